/**
 * Canonical key names, e.g. `j`, `U`, `?`, `space`, `enter`, `esc`, `up`, `pgdn`, `ctrl+c`.
 * Ink hands us (input, key) pairs; `keyNames` turns them into these names, `parseKeySpec` checks
 * what a user wrote in a config override.
 */

/** The subset of Ink's `Key` we read (structurally typed so this module stays free of Ink). */
export interface InkKey {
  upArrow: boolean;
  downArrow: boolean;
  leftArrow: boolean;
  rightArrow: boolean;
  pageDown: boolean;
  pageUp: boolean;
  home: boolean;
  end: boolean;
  return: boolean;
  escape: boolean;
  ctrl: boolean;
  shift: boolean;
  tab: boolean;
  backspace: boolean;
  delete: boolean;
  meta: boolean;
}

const NAMED = [
  "space",
  "enter",
  "esc",
  "tab",
  "shift+tab",
  "backspace",
  "up",
  "down",
  "left",
  "right",
  "pgup",
  "pgdn",
  "home",
  "end",
] as const;

const ALIASES: Record<string, string> = {
  escape: "esc",
  return: "enter",
  pageup: "pgup",
  pagedown: "pgdn",
  spacebar: "space",
  " ": "space",
  arrowup: "up",
  arrowdown: "down",
  arrowleft: "left",
  arrowright: "right",
};

/** Normalise a key spec from config; returns null when it is not a key we can receive. */
export function parseKeySpec(raw: string): string | null {
  if (raw.length === 1) {
    if (raw === " ") return "space";
    return raw.charCodeAt(0) >= 0x21 && raw.charCodeAt(0) < 0x7f ? raw : null;
  }
  const lower = raw.trim().toLowerCase();
  const aliased = ALIASES[lower] ?? lower;
  if ((NAMED as readonly string[]).includes(aliased)) return aliased;
  const ctrl = /^(?:ctrl|c)[+-]([a-z])$/.exec(aliased);
  if (ctrl) return `ctrl+${ctrl[1]}`;
  const shift = /^shift[+-]([a-z])$/.exec(aliased);
  if (shift) return shift[1]!.toUpperCase();
  return null;
}

function charName(ch: string): string {
  if (ch === " ") return "space";
  if (ch === "\r" || ch === "\n") return "enter";
  if (ch === "\t") return "tab";
  if (ch === "\u007f" || ch === "\b") return "backspace";
  if (ch === "\u001b") return "esc";
  const code = ch.charCodeAt(0);
  if (code >= 1 && code <= 26) return `ctrl+${String.fromCharCode(code + 96)}`;
  return ch;
}

/**
 * Names for one Ink input event. Usually one; several when a burst of plain characters arrived in
 * one chunk (tmux send-keys, fast typing, paste), which Ink hands over as a single string.
 */
export function keyNames(input: string, key: InkKey): string[] {
  if (key.upArrow) return ["up"];
  if (key.downArrow) return ["down"];
  if (key.leftArrow) return ["left"];
  if (key.rightArrow) return ["right"];
  if (key.pageUp) return ["pgup"];
  if (key.pageDown) return ["pgdn"];
  if (key.home) return ["home"];
  if (key.end) return ["end"];
  if (key.return) return ["enter"];
  if (key.tab) return [key.shift ? "shift+tab" : "tab"];
  // Ink reports Backspace (DEL, 0x7f) as `delete`, the same as the Delete key: both erase.
  if (key.backspace || key.delete) return ["backspace"];
  if (key.escape) return ["esc"];
  if (key.ctrl && input.length === 1) return [`ctrl+${input.toLowerCase()}`];
  if (input.length === 0) return [];
  // ESC followed quickly by a key reads as Alt+key; nothing here is bound to Alt, so it is what
  // a fast typist meant: Esc, then the key.
  if (key.meta) return ["esc", ...[...input].map(charName)];
  return [...input].map(charName);
}
