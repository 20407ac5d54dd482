import { BASE_COMMANDS, CATEGORIES, type CommandSpec } from "../keymap/commands.js";
import { createKeymap, type KeyOverrides, type Keymap, type KeymapSource } from "../keymap/keymap.js";
import type { CommandId, ViewId, ViewSpecs } from "../keymap/registry.js";
import type { IntentTable } from "../store/commands.js";
import { spec as backend } from "./backend/spec.js";
import { intents as backendsIntents } from "./backends/intents.js";
import { spec as backends } from "./backends/spec.js";
import { spec as help } from "./help/spec.js";
import { spec as history } from "./history/spec.js";
import { intents as installIntents } from "./install/intents.js";
import { spec as install } from "./install/spec.js";
import { intents as nodeIntents } from "./node/intents.js";
import { spec as node } from "./node/spec.js";
import { spec as nodes } from "./nodes/spec.js";
import { intents as opsIntents } from "./ops/intents.js";
import { spec as op } from "./op/spec.js";
import { spec as ops } from "./ops/spec.js";
import { spec as rollout } from "./rollout/spec.js";
import { intents as rolloutsIntents } from "./rollouts/intents.js";
import { spec as rollouts } from "./rollouts/spec.js";
import { globalKeys as settingsKeys, intents as settingsIntents } from "./settings/intents.js";
import { spec as settings } from "./settings/spec.js";
import type { KeyContext, ViewSpec } from "./types.js";

/**
 * Every view, each declared in its folder (src/views/<view>/spec.ts). The order is help's order
 * for their commands within a category; a view registered in keymap/registry.ts but missing here
 * (or the other way round) does not compile.
 *
 * To add a view: a folder with spec.ts (copy one), its screen, and intents.ts if its commands
 * send new intents; then its spec (and intents) here and its screen in index.ts, where the
 * compiler asks for them. This file loads no React: `backplane dash` builds the keymap before Ink.
 */
const SPECS = {
  nodes,
  backends,
  backend,
  install,
  ops,
  op,
  node,
  history,
  settings,
  rollouts,
  rollout,
  help,
} satisfies {
  [V in ViewId]: ViewSpec & { id: V };
};

/** Every intent's handler (describe + run), from the views' intents.ts; a kind without one does not compile. */
export const INTENTS = {
  ...backendsIntents,
  ...installIntents,
  ...opsIntents,
  ...nodeIntents,
  ...rolloutsIntents,
  ...settingsIntents,
} satisfies IntentTable;

/** Commands that act from every view and are handled app-wide, after the view had its chance. */
export const GLOBAL_KEYS: Partial<Record<CommandId, (ctx: KeyContext) => void>> = { ...settingsKeys };

export const VIEW_IDS = Object.keys(SPECS) as ViewId[];

export function viewSpec(id: ViewId): ViewSpec {
  return SPECS[id];
}

/** Resolve what was typed after `:` to a view, by exact name or unique prefix. */
export function viewByName(name: string): ViewId | null {
  const n = name.trim().toLowerCase();
  if (!n) return null;
  for (const id of VIEW_IDS) if (viewSpec(id).names.includes(n)) return id;
  const hits = VIEW_IDS.filter((id) => viewSpec(id).names.some((x) => x.startsWith(n)));
  return hits.length === 1 ? hits[0]! : null;
}

/** Views `:` can open (they take no parameter): those with a jump key first, in key order. */
export function jumpableViews(): ViewId[] {
  const rank = (id: ViewId) => viewSpec(id).jumpKey ?? "\uffff";
  return VIEW_IDS.filter((id) => viewSpec(id).names.length > 0).sort((a, b) =>
    rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0,
  );
}

/** Which view a command opens from anywhere: `view.<id>` for a jump key, and each `openedBy`. */
export const OPENERS: ReadonlyMap<CommandId, ViewId> = new Map(
  VIEW_IDS.flatMap((id): Array<[CommandId, ViewId]> => {
    const s = viewSpec(id);
    return [
      ...(s.jumpKey ? [[`view.${id}` as CommandId, id] as [CommandId, ViewId]] : []),
      ...(s.openedBy ? [[s.openedBy as CommandId, id] as [CommandId, ViewId]] : []),
    ];
  }),
);

type OpenedBy = { [V in ViewId]: ViewSpecs[V] extends { openedBy: infer C } ? C : never }[ViewId];
type Assert<T extends true> = T;
/** Compile-time checks of what the specs cannot check themselves. */
export type RegistryChecks = [Assert<OpenedBy extends CommandId ? true : false>];

/**
 * The one keymap's commands: the app's own (keymap/commands.ts), a `view.<id>` per jump key, and
 * every view's, grouped by category for help. A command id declared twice throws here, at load.
 */
function commandTable(): Record<string, CommandSpec> {
  const all: Array<[string, CommandSpec]> = [];
  const add = (id: string, s: CommandSpec) => {
    if (all.some(([x]) => x === id)) throw new Error(`keymap: command ${id} is declared twice`);
    all.push([id, s]);
  };
  const names = jumpableViews()
    .map((v) => `:${viewSpec(v).names[0]}`)
    .join(" ");
  for (const [id, s] of Object.entries(BASE_COMMANDS))
    add(id, id === "app.jump" ? { ...s, description: `${s.description} (${names})` } : s);
  for (const id of VIEW_IDS) {
    const s = viewSpec(id);
    if (s.jumpKey)
      add(`view.${id}`, {
        description: `${s.title} view`,
        category: "general",
        layer: "global",
        keys: [s.jumpKey],
      });
  }
  for (const id of VIEW_IDS) for (const [cmd, s] of Object.entries(viewSpec(id).commands)) add(cmd, s);
  return Object.fromEntries(CATEGORIES.flatMap((c) => all.filter(([, s]) => s.category === c)));
}

// The ids are those CommandId names: both come from the same specs.
export const COMMANDS = commandTable() as Readonly<Record<CommandId, CommandSpec>>;
export const COMMAND_IDS = Object.keys(COMMANDS) as CommandId[];

export const KEYMAP_SOURCE: KeymapSource = {
  commands: COMMANDS,
  viewTitle: (v) => (Object.hasOwn(SPECS, v) ? viewSpec(v as ViewId).title : v),
  confirms: (intent) =>
    Object.hasOwn(INTENTS, intent) && "describe" in INTENTS[intent as keyof typeof INTENTS],
};

/** The dashboard's keymap: every view's commands, with the user's overrides. */
export function buildKeymap(overrides: KeyOverrides = {}, opts: { readOnly?: boolean } = {}): Keymap {
  return createKeymap(KEYMAP_SOURCE, overrides, opts);
}
