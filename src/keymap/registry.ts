import type { BaseCommandId } from "./commands.js";

/**
 * Every view, by id: each src/views/<view>/spec.ts adds its spec here by declaration merging,
 *
 *   declare module "../../keymap/registry.js" {
 *     interface ViewSpecs { ops: typeof spec }
 *   }
 *
 * so the layers below views (store, hooks, components and this keymap) name view and command ids,
 * compile-checked, without importing views/. src/views/registry.ts checks that every id here has
 * its spec, screen and intents.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ViewSpecs {}

export type ViewId = keyof ViewSpecs & string;

type CommandsOf<S> = S extends { commands: infer C } ? keyof C & string : never;
/** A view with a jump key is opened by the command `view.<id>`. */
type JumpOf<V extends ViewId> = ViewSpecs[V] extends { jumpKey: string } ? `view.${V}` : never;

export type CommandId = BaseCommandId | { [V in ViewId]: CommandsOf<ViewSpecs[V]> | JumpOf<V> }[ViewId];
