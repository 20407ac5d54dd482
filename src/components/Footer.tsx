import { Text } from "ink";
import type { ReactNode } from "react";
import type { Category } from "../keymap/commands.js";
import { keyLabel } from "../keymap/keymap.js";
import type { ViewId } from "../keymap/registry.js";
import { displayWidth } from "../format/text.js";
import { useDashEnv } from "../hooks/context.js";
import { toneStyle, useTheme } from "../theme/index.js";

const RANK: Partial<Record<Category, number>> = {
  "install picker": 0,
  actions: 1,
  navigation: 2,
  general: 3,
  table: 4,
};

/** The keys that work in this view, from the keymap; read-only mode drops the command keys and says so. */
export function Footer({ view, width }: { view: ViewId; width: number }): ReactNode {
  const { keymap } = useDashEnv();
  const p = useTheme();
  const hints: Array<{ key: string; label: string; rank: number }> = [];
  for (const id of keymap.commandsIn(view)) {
    const s = keymap.spec(id);
    if (s.hint === undefined || keymap.disabled(id)) continue;
    const k = keymap.keysOf(id)[0];
    if (k)
      hints.push({ key: keyLabel(k), label: s.hint, rank: id === "app.help" ? -1 : (RANK[s.category] ?? 9) });
  }
  // Help first (it lists the rest), then what this view can do; general keys fill what is left.
  hints.sort((a, b) => a.rank - b.rank);
  const parts: ReactNode[] = [];
  let used = 0;
  if (keymap.readOnly) {
    const ro = "READ-ONLY: commands disabled ";
    parts.push(
      <Text key="ro" bold color={toneStyle(p, "warn").color}>
        {ro}
      </Text>,
    );
    used += ro.length;
  }
  for (const h of hints) {
    const piece = `${h.key} ${h.label}  `;
    if (used + displayWidth(piece) > width) break;
    used += displayWidth(piece);
    parts.push(
      <Text key={h.key + h.label}>
        <Text bold color={p.title.color}>
          {h.key}
        </Text>{" "}
        {h.label}
        {"  "}
      </Text>,
    );
  }
  return <Text wrap="truncate">{parts}</Text>;
}
