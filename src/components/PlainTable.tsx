import { Table } from "@alcalzone/ink-table";
import { Box, Text } from "ink";
import { Fragment, type ReactNode } from "react";
import { layoutColumns, WIDE_FROM, type Column, type Row } from "../format/table.js";
import { fit, truncate } from "../format/text.js";

type Scalar = string | number | boolean | null | undefined;
type Dict = Record<string, Scalar>;

/**
 * ink-table draws a separator line above every data row (N rows take 2N + 3 lines). This keeps
 * only the one under the heading, so N rows take N + 4: ink-table keys each separator
 * `separator-row-<hash>-<index>`, and subclassing is how its class API is extended.
 */
class CompactTable<T extends Dict> extends Table<T> {
  constructor(props: ConstructorParameters<typeof Table<T>>[0]) {
    super(props);
    const full = this.separator;
    this.separator = (p) => (p.key.endsWith("-0") ? full(p) : <Fragment />);
  }
}

export interface PlainTableProps {
  columns: readonly Column[];
  rows: readonly Row[];
  width: number;
  /** Lines available, borders and heading included. */
  height: number;
  /** First row shown (j/k scroll it). */
  offset: number;
  empty?: string;
}

/** Lines ink-table adds around the rows: top border, heading, separator, bottom border. */
const TABLE_CHROME_LINES = 4;

/**
 * A plain bordered table (node summary, history, help) drawn by @alcalzone/ink-table. It sizes
 * columns by content and cannot truncate, so cells are cut to the layout width here first, and
 * only the window of rows that fits is handed over.
 */
export function PlainTable({ columns, rows, width, height, offset, empty }: PlainTableProps): ReactNode {
  // ink-table spends 3 columns per column (padding, border) plus 1; our layout spends 1 plus a
  // 2-column gutter, so hand it 2 columns per column less.
  const shown = columns.filter((c) => !c.wide || width >= WIDE_FROM).length;
  const cols = layoutColumns(columns, width - 2 * shown).map((c) => ({
    ...c,
    key: truncate(c.title || c.id, c.w),
  }));
  const fitRows = Math.max(0, height - TABLE_CHROME_LINES);
  const visible = rows.slice(offset, offset + fitRows);
  if (rows.length === 0 && empty) {
    return (
      <Text dimColor wrap="truncate">
        {"  "}
        {empty}
      </Text>
    );
  }
  const data: Dict[] = visible.map((r) =>
    // Padded to the layout width: ink-table sizes columns by content, and this fills the width.
    Object.fromEntries(cols.map((c) => [c.key, fit(r.cells[c.id]?.text ?? "", c.w)])),
  );
  return (
    <Box flexDirection="column" height={Math.min(height, fitRows + TABLE_CHROME_LINES)}>
      <CompactTable data={data} columns={cols.map((c) => c.key)} />
    </Box>
  );
}
