import { useMemo } from "react";
import type { ViewId } from "../keymap/registry.js";
import { applyQuery, countRows, nextSort, type Column, type Row } from "../format/table.js";
import { EMPTY_TABLE, type TableState } from "../store/index.js";
import { useActions, useDash } from "./context.js";
import { useViewCommands } from "./useKeys.js";
import { navTarget } from "../format/nav.js";

export interface TableModel {
  /** Rows after filter and sort, groups flattened. */
  rows: Row[];
  /** Index of the selected row in `rows` (the first visible row for scroll tables), -1 when empty. */
  selected: number;
  /** The selected row, undefined when there are no rows. */
  selectedRow: Row | undefined;
  state: TableState;
  /** Rows before filtering (as lines: a group's children count). */
  total: number;
}

/** What a table's title line shows: counts, selection, filter and sort. */
export function tableTitle(t: TableModel) {
  return {
    shown: t.rows.length,
    total: t.total,
    selected: t.selected,
    filter: t.state.filter,
    sort: t.state.sort,
  };
}

/**
 * Filter, sort and selection of one table, kept in the store under `tableKey`, plus the keys that
 * move through it. `scroll` tables (history, help) have no selection: j/k scroll the window.
 */
export function useTable(
  view: ViewId,
  tableKey: string,
  allRows: readonly Row[],
  columns: readonly Column[],
  pageSize: number,
  mode: "select" | "scroll" = "select",
): TableModel {
  const state = useDash((s) => s.tables[tableKey] ?? EMPTY_TABLE);
  const { setTable } = useActions();
  // Only filter and sort change the rows: moving the selection must not rebuild them (nor, through
  // new row objects, redraw every visible row).
  const { filter, sort } = state;
  const rows = useMemo(() => applyQuery(allRows, { filter, sort }), [allRows, filter, sort]);
  const total = useMemo(() => countRows(allRows), [allRows]);

  const maxStart = mode === "scroll" ? Math.max(0, rows.length - pageSize) : rows.length - 1;
  const byKey = state.selectedKey === null ? -1 : rows.findIndex((r) => r.key === state.selectedKey);
  const selected =
    rows.length === 0 ? -1 : byKey >= 0 ? byKey : Math.min(Math.max(0, state.selectedIndex), maxStart);

  // Handlers see this render's rows and selection: the dispatcher hands each key of a burst over
  // one event-loop turn after the key before it, so React has committed that key's changes.
  const moveTo = (i: number) => {
    if (rows.length === 0) return;
    const idx = Math.max(0, Math.min(i, maxStart));
    setTable(tableKey, {
      selectedIndex: idx,
      selectedKey: mode === "select" ? (rows[idx]?.key ?? null) : null,
    });
  };

  useViewCommands(view, (cmd) => {
    const page = Math.max(1, pageSize - 1);
    const cur = Math.max(0, selected);
    const next = navTarget(cmd, cur, page, rows.length - 1);
    if (next !== undefined) {
      moveTo(next);
      return true;
    }
    switch (cmd) {
      case "table.sort":
        setTable(tableKey, { sort: nextSort(columns, sort) });
        return true;
      case "table.reverse":
        if (sort) setTable(tableKey, { sort: { ...sort, desc: !sort.desc } });
        return true;
      default:
        return false;
    }
  });

  return {
    rows,
    selected,
    selectedRow: selected >= 0 ? rows[selected] : undefined,
    state,
    total,
  };
}
