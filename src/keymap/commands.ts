import { VIEW_IDS, type ViewId } from "./views.js";

export type Category =
  "general" | "navigation" | "table" | "actions" | "install picker" | "dialog" | "prompt";

/** Where a key is read: the main screen, a confirm dialog, or a text prompt (`/`, `:`). */
export type Layer = "global" | "dialog" | "prompt";

export interface CommandSpec {
  description: string;
  category: Category;
  layer: Layer;
  /** Views where it acts; omitted means every view. */
  views?: readonly ViewId[];
  /** Sends a request to the controller, so `--read-only` disables it. */
  command?: boolean;
  /** Opens a confirm dialog before anything is sent. */
  confirm?: boolean;
  /** Default keys (canonical names, see keys.ts). */
  keys: readonly string[];
  /** Short label for the footer; commands without one are listed only in help. */
  hint?: string;
}

/** Navigation and filtering work in every view. */
const ALL_TABLES = VIEW_IDS;

/** The single source of truth for keys: the help view, the footer and docs/keys.md come from here. */
export const COMMANDS = {
  "app.help": {
    description: "help: every key",
    category: "general",
    layer: "global",
    keys: ["?"],
    hint: "help",
  },
  "app.quit": {
    description: "quit",
    category: "general",
    layer: "global",
    keys: ["q", "ctrl+c"],
    hint: "quit",
  },
  "app.back": {
    description: "back / clear the filter",
    category: "general",
    layer: "global",
    keys: ["esc"],
    hint: "back",
  },
  "app.filter": {
    description: "filter the current table (!text excludes)",
    category: "general",
    layer: "global",
    keys: ["/"],
    hint: "filter",
  },
  "app.jump": {
    description: "jump to a view by name (:nodes :backends :ops :history :settings :install :help)",
    category: "general",
    layer: "global",
    keys: [":"],
    hint: "view",
  },
  "view.nodes": { description: "Nodes view", category: "general", layer: "global", keys: ["1"] },
  "view.backends": { description: "Backends view", category: "general", layer: "global", keys: ["2"] },
  "view.ops": { description: "Operations view", category: "general", layer: "global", keys: ["3"] },
  "view.history": { description: "History view", category: "general", layer: "global", keys: ["4"] },
  "view.settings": { description: "Settings view", category: "general", layer: "global", keys: ["5"] },
  "view.refresh": {
    description: "reload (history, gallery)",
    category: "general",
    layer: "global",
    views: ["history", "install"],
    keys: ["ctrl+r"],
    hint: "reload",
  },

  "nav.up": { description: "move up", category: "navigation", layer: "global", keys: ["k", "up"] },
  "nav.down": { description: "move down", category: "navigation", layer: "global", keys: ["j", "down"] },
  "nav.pageUp": { description: "page up", category: "navigation", layer: "global", keys: ["pgup", "ctrl+b"] },
  "nav.pageDown": {
    description: "page down",
    category: "navigation",
    layer: "global",
    keys: ["pgdn", "ctrl+f"],
  },
  "nav.top": { description: "first row", category: "navigation", layer: "global", keys: ["g", "home"] },
  "nav.bottom": { description: "last row", category: "navigation", layer: "global", keys: ["G", "end"] },
  "nav.open": {
    description: "open / drill in / choose",
    category: "navigation",
    layer: "global",
    keys: ["enter"],
    hint: "open",
  },

  "table.sort": {
    description: "cycle the sort column",
    category: "table",
    layer: "global",
    views: ALL_TABLES,
    keys: ["s"],
    hint: "sort",
  },
  "table.reverse": {
    description: "reverse the sort order",
    category: "table",
    layer: "global",
    views: ALL_TABLES,
    keys: ["S"],
  },

  "backend.upgrade": {
    description: "upgrade the selected backend (on the selected node, or everywhere from Backends)",
    category: "actions",
    layer: "global",
    views: ["backends", "backend", "node"],
    command: true,
    confirm: true,
    keys: ["u"],
    hint: "upgrade",
  },
  "backend.reinstall": {
    description: "reinstall the selected backend (selected node, or everywhere from Backends)",
    category: "actions",
    layer: "global",
    views: ["backends", "backend", "node"],
    command: true,
    confirm: true,
    keys: ["r"],
    hint: "reinstall",
  },
  "install.open": {
    description: "install picker: choose a backend, then nodes",
    category: "actions",
    layer: "global",
    command: true,
    keys: ["i"],
    hint: "install",
  },
  "op.cancel": {
    description: "cancel the selected operation (or the whole fan-out)",
    category: "actions",
    layer: "global",
    views: ["ops"],
    command: true,
    confirm: true,
    keys: ["c"],
    hint: "cancel",
  },
  "op.dismiss": {
    description: "dismiss the selected failed operation",
    category: "actions",
    layer: "global",
    views: ["ops"],
    command: true,
    keys: ["x"],
    hint: "dismiss",
  },
  "op.retry": {
    description: "retry the selected failed operation",
    category: "actions",
    layer: "global",
    views: ["ops"],
    command: true,
    confirm: true,
    keys: ["R"],
    hint: "retry",
  },
  "node.drain": {
    description: "drain / resume the selected node",
    category: "actions",
    layer: "global",
    views: ["nodes", "node"],
    command: true,
    confirm: true,
    keys: ["D"],
    hint: "drain/resume",
  },
  "upgrades.check": {
    description: "check for upgrades now",
    category: "actions",
    layer: "global",
    command: true,
    keys: ["U"],
    hint: "check",
  },
  "settings.autoUpgrade": {
    description: "toggle auto-upgrade",
    category: "actions",
    layer: "global",
    command: true,
    confirm: true,
    keys: ["a"],
    hint: "auto-upgrade",
  },

  "picker.toggle": {
    description: "select / unselect the node",
    category: "install picker",
    layer: "global",
    views: ["install"],
    keys: ["space"],
    hint: "select",
  },
  "picker.all": {
    description: "select every node the backend resolves on / none",
    category: "install picker",
    layer: "global",
    views: ["install"],
    keys: ["*"],
    hint: "all",
  },

  "dialog.confirm": { description: "confirm", category: "dialog", layer: "dialog", keys: ["y"] },
  "dialog.cancel": { description: "cancel", category: "dialog", layer: "dialog", keys: ["n", "esc"] },
  "dialog.switch": {
    description: "move between Cancel and the action",
    category: "dialog",
    layer: "dialog",
    keys: ["tab", "shift+tab", "left", "right"],
  },
  "dialog.activate": {
    description: "press the focused button (Cancel is focused first)",
    category: "dialog",
    layer: "dialog",
    keys: ["enter"],
  },

  "prompt.submit": { description: "apply", category: "prompt", layer: "prompt", keys: ["enter"] },
  "prompt.cancel": {
    description: "close (a filter is cleared)",
    category: "prompt",
    layer: "prompt",
    keys: ["esc"],
  },
  "prompt.erase": {
    description: "erase a character",
    category: "prompt",
    layer: "prompt",
    keys: ["backspace"],
  },
  "prompt.complete": {
    description: "complete a view name",
    category: "prompt",
    layer: "prompt",
    keys: ["tab"],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandId = keyof typeof COMMANDS;
export const COMMAND_IDS = Object.keys(COMMANDS) as CommandId[];

export function spec(id: CommandId): CommandSpec {
  return COMMANDS[id];
}

export function isCommandId(s: string): s is CommandId {
  return Object.hasOwn(COMMANDS, s);
}
