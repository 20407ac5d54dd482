import { Box } from "ink";
import type { ReactNode } from "react";
import type { Column } from "../format/table.js";
import { tableTitle, type TableModel } from "../hooks/useTable.js";
import { DataTable, type CellRenderer } from "./DataTable.js";
import { TitleLine } from "./TitleLine.js";

export interface TableViewProps {
  /** The table's rows, selection, filter and sort (useTable). */
  t: TableModel;
  columns: readonly Column[];
  crumbs: string[];
  note?: string;
  width: number;
  height: number;
  stale?: boolean;
  empty?: string;
  renderers?: Readonly<Record<string, CellRenderer>>;
}

/** A screen that is one big list: its title line (counts, filter, sort) over the table. */
export function TableView({
  t,
  columns,
  crumbs,
  note,
  width,
  height,
  stale,
  empty,
  renderers,
}: TableViewProps): ReactNode {
  return (
    <Box flexDirection="column" height={height}>
      <TitleLine crumbs={crumbs} width={width} {...tableTitle(t)} columns={columns} note={note} />
      <DataTable
        columns={columns}
        rows={t.rows}
        selected={t.selected}
        width={width}
        height={height - 1}
        sort={t.state.sort}
        stale={stale}
        empty={empty}
        renderers={renderers}
      />
    </Box>
  );
}
