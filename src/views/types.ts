import type { CommandSpec } from "../keymap/commands.js";
import type { ViewId } from "../keymap/registry.js";
import type { CommandRunner, DashStore, IntentKind, ViewEntry } from "../store/index.js";

export interface ViewProps {
  entry: ViewEntry;
  width: number;
  /** Lines for the view, its title line included. */
  height: number;
}

/** A view's command: a keymap entry whose views and intents are checked against the registries. */
export interface ViewCommand extends CommandSpec {
  views?: readonly ViewId[];
  sends?: readonly IntentKind[];
}

/** What src/views/<view>/spec.ts declares; src/views/registry.ts joins every view's into the keymap. */
export interface ViewSpec {
  id: string;
  title: string;
  /** Names accepted by `:` (the first is the canonical one); empty when it needs a parameter. */
  names: readonly string[];
  /** The key that opens it from anywhere: the keymap command `view.<id>`. */
  jumpKey?: string;
  /** A keymap command that opens it from anywhere, such as `app.help`. */
  openedBy?: string;
  /** Its commands, keyed by keymap id (`op.cancel`); `views` says where each acts. */
  commands: Readonly<Record<string, ViewCommand>>;
}

/** What a command handled app-wide (it acts in every view) gets. */
export interface KeyContext {
  store: DashStore;
  runner: CommandRunner;
}
