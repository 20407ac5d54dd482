import type { Category } from "./commands.js";
import { keyLabel, type Keymap } from "./keymap.js";

export interface HelpRow {
  keys: string;
  description: string;
  where: string;
  category: Category;
  flags: string;
}

/** One row per command, in keymap order: what the help view and docs/keys.md list. */
export function helpRows(keymap: Keymap): HelpRow[] {
  return keymap.ids.map((id) => {
    const s = keymap.spec(id);
    const flags = [
      s.sends?.some((intent) => keymap.source.confirms(intent)) ? "confirms" : "",
      keymap.disabled(id) ? "disabled (read-only)" : "",
    ]
      .filter(Boolean)
      .join(", ");
    return {
      keys: keymap.keysOf(id).map(keyLabel).join(" "),
      description: s.description,
      where:
        s.layer === "dialog"
          ? "confirm dialog"
          : s.layer === "prompt"
            ? "/ and : prompt"
            : (s.where ??
              (s.views ? s.views.map((v) => keymap.source.viewTitle(v)).join(", ") : "everywhere")),
      category: s.category,
      flags,
    };
  });
}

/** The text of docs/keys.md; a test keeps the file in sync with the keymap. */
export function keysMarkdown(keymap: Keymap): string {
  const lines = [
    "# Dashboard keys",
    "",
    "Generated from the keymap (`src/keymap/commands.ts` and each view's `src/views/<view>/spec.ts`);",
    "`test/dash/keymap/keymap.test.ts` keeps it in sync.",
    'Override any binding in the config file under `keys`, e.g. `"keys": {"op.cancel": ["C"]}`.',
    "With `--read-only` every key marked *command* is disabled and the footer says so.",
    "",
    "| keys | command | what it does | where | notes |",
    "| --- | --- | --- | --- | --- |",
  ];
  const rows = helpRows(keymap);
  keymap.ids.forEach((id, i) => {
    const r = rows[i]!;
    const s = keymap.spec(id);
    const notes = [s.sends?.length ? "command" : "", r.flags].filter(Boolean).join(", ");
    const keys = r.keys
      .split(" ")
      .map((k) => `\`${k === "|" ? "\\|" : k}\``)
      .join(" ");
    lines.push(`| ${keys} | \`${id}\` | ${r.description} | ${r.where} | ${notes} |`);
  });
  return lines.join("\n") + "\n";
}
