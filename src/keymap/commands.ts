export type Category =
  "general" | "navigation" | "table" | "actions" | "install picker" | "dialog" | "prompt";

/** Help lists commands by category, in this order (and in declaration order within one). */
export const CATEGORIES: readonly Category[] = [
  "general",
  "navigation",
  "table",
  "actions",
  "install picker",
  "dialog",
  "prompt",
];

/** Where a key is read: the main screen, a confirm dialog, or a text prompt (`/`, `:`). */
export type Layer = "global" | "dialog" | "prompt";

export interface CommandSpec {
  description: string;
  category: Category;
  layer: Layer;
  /** Views where it acts; omitted means every view. */
  views?: readonly string[];
  /** How help says where it acts, when that is not a list of views. */
  where?: string;
  /**
   * The intents it sends to the controller: `--read-only` disables it, and help says "confirms"
   * when one of them asks first.
   */
  sends?: readonly string[];
  /** Default keys (canonical names, see keys.ts). */
  keys: readonly string[];
  /** Short label for the footer; commands without one are listed only in help. */
  hint?: string;
}

/**
 * The commands of the app itself (help, quit, prompts, navigation, the dialog); each view adds
 * its own in src/views/<view>/spec.ts, and src/views/registry.ts joins them into the one keymap
 * that the help view, the footer and docs/keys.md come from.
 */
export const BASE_COMMANDS = {
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
    // The registry appends the view names.
    description: "jump to a view by name",
    category: "general",
    layer: "global",
    keys: [":"],
    hint: "view",
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
    where: "tables",
    keys: ["s"],
    hint: "sort",
  },
  "table.reverse": {
    description: "reverse the sort order",
    category: "table",
    layer: "global",
    where: "tables",
    keys: ["S"],
  },

  "dialog.confirm": { description: "confirm", category: "dialog", layer: "dialog", keys: ["y"] },
  "dialog.cancel": { description: "cancel", category: "dialog", layer: "dialog", keys: ["n", "esc"] },
  "dialog.switch": {
    description: "move between Cancel and the action",
    category: "dialog",
    layer: "dialog",
    keys: ["tab", "shift+tab", "left", "right"],
  },
  "dialog.next": {
    description: "choose the next one listed (which kept generation a rollback goes to)",
    category: "dialog",
    layer: "dialog",
    keys: ["j", "down"],
  },
  "dialog.prev": {
    description: "choose the previous one listed",
    category: "dialog",
    layer: "dialog",
    keys: ["k", "up"],
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

export type BaseCommandId = keyof typeof BASE_COMMANDS;
