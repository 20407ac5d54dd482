import { useMemo } from "react";
import type { ViewId } from "../keymap/views.js";
import { applyQuery, countRows, nextSort, type Column, type Row } from "../format/table.js";
import { EMPTY_TABLE, type TableState } from "../store/index.js";
import { useActions, useDash, useDashEnv } from "./context.js";
import { useViewCommands } from "./useKeys.js";

export interface TableModel {
  /** Rows after filter and sort, groups flattened. */
  rows: Row[];
  /** Index of the selected row in `rows` (the first visible row for scroll tables), -1 when empty. */
  selected: number;
  /**
   * The selected row as of now (read from the store when asked, so a key handler sees the
   * selection made by a key earlier in the same input chunk, not the one of the last render).
   */
  readonly selectedRow: Row | undefined;
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
  const { store } = useDashEnv();
  const { setTable } = useActions();
  // Only filter and sort change the rows: moving the selection must not rebuild them (nor, through
  // new row objects, redraw every visible row).
  const { filter, sort } = state;
  const rows = useMemo(() => applyQuery(allRows, { filter, sort }), [allRows, filter, sort]);
  const total = useMemo(() => countRows(allRows), [allRows]);

  const indexIn = (st: TableState, rs: readonly Row[]) => {
    const maxStart = mode === "scroll" ? Math.max(0, rs.length - pageSize) : rs.length - 1;
    const byKey = st.selectedKey === null ? -1 : rs.findIndex((r) => r.key === st.selectedKey);
    return rs.length === 0 ? -1 : byKey >= 0 ? byKey : Math.min(Math.max(0, st.selectedIndex), maxStart);
  };
  const selected = indexIn(state, rows);
  /**
   * The table as of now, not as of the last render: several keys can arrive in one input chunk
   * (a filter typed, then enter), so handlers must see the filter and selection they made.
   */
  const latest = () => {
    const st = store.getState().tables[tableKey] ?? EMPTY_TABLE;
    const rs = st.filter === state.filter && st.sort === state.sort ? rows : applyQuery(allRows, st);
    return { st, rs, index: indexIn(st, rs) };
  };

  const moveTo = (i: number) => {
    const { rs } = latest();
    if (rs.length === 0) return;
    const maxStart = mode === "scroll" ? Math.max(0, rs.length - pageSize) : rs.length - 1;
    const idx = Math.max(0, Math.min(i, maxStart));
    setTable(tableKey, {
      selectedIndex: idx,
      selectedKey: mode === "select" ? (rs[idx]?.key ?? null) : null,
    });
  };

  useViewCommands(view, (cmd) => {
    const page = Math.max(1, pageSize - 1);
    const now = latest();
    const cur = Math.max(0, now.index);
    switch (cmd) {
      case "nav.up":
        moveTo(cur - 1);
        return true;
      case "nav.down":
        moveTo(cur + 1);
        return true;
      case "nav.pageUp":
        moveTo(cur - page);
        return true;
      case "nav.pageDown":
        moveTo(cur + page);
        return true;
      case "nav.top":
        moveTo(0);
        return true;
      case "nav.bottom":
        moveTo(now.rs.length - 1);
        return true;
      case "table.sort":
        setTable(tableKey, { sort: nextSort(columns, now.st.sort) });
        return true;
      case "table.reverse":
        if (now.st.sort) setTable(tableKey, { sort: { ...now.st.sort, desc: !now.st.sort.desc } });
        return true;
      default:
        return false;
    }
  });

  return {
    rows,
    selected,
    get selectedRow() {
      const { rs, index } = latest();
      return index >= 0 ? rs[index] : undefined;
    },
    state,
    total,
  };
}
