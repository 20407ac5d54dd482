import { Box } from "ink";
import { useMemo, type ReactNode } from "react";
import { PlainTable } from "../../components/PlainTable.js";
import { TitleLine } from "../../components/TitleLine.js";
import type { Column, Row } from "../../format/table.js";
import { useDashEnv } from "../../hooks/context.js";
import { useTable } from "../../hooks/useTable.js";
import { helpRows } from "../../keymap/docs.js";
import type { ViewProps } from "../types.js";

const COLUMNS: Column[] = [
  { id: "keys", title: "KEYS", width: 12 },
  { id: "description", title: "WHAT IT DOES", width: 20, flex: 3 },
  { id: "where", title: "WHERE", width: 10, flex: 1 },
  { id: "flags", title: "NOTES", width: 8, flex: 1 },
];
const CHROME = 4;

/** Every key of the keymap (generated from it, overrides and read-only included); j/k scroll. */
export function HelpView({ width, height }: ViewProps): ReactNode {
  const { keymap } = useDashEnv();
  const rows: Row[] = useMemo(
    () =>
      helpRows(keymap).map((r, i) => ({
        key: String(i),
        cells: {
          keys: { text: r.keys },
          description: { text: r.description },
          where: { text: r.where },
          flags: { text: r.flags },
        },
      })),
    [keymap],
  );
  const fits = Math.max(1, height - 1 - CHROME);
  const t = useTable("help", "help", rows, COLUMNS, fits, "scroll");
  const first = Math.max(0, t.selected);
  return (
    <Box flexDirection="column" height={height}>
      <TitleLine
        crumbs={["Help"]}
        width={width}
        shown={t.rows.length}
        total={t.total}
        filter={t.state.filter}
        note={`rows ${first + 1}–${Math.min(first + fits, t.rows.length)} · j/k scroll · / filter · esc back`}
      />
      <PlainTable columns={COLUMNS} rows={t.rows} width={width} height={height - 1} offset={first} />
    </Box>
  );
}
