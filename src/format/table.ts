import type { Tone } from "../theme/tokens.js";

export interface Cell {
  text: string;
  tone?: Tone;
  /** What sorting compares (defaults to the text). */
  sort?: string | number;
}

export interface Row {
  key: string;
  cells: Readonly<Record<string, Cell>>;
  /** Stale or inactive: drawn dim (never only dim: the age/reason is in a cell). */
  dim?: boolean;
  /** A cell that spans from column `tailFrom` to the end of the row (an op's error). */
  tail?: Cell & { from: string };
  /** Rows grouped under this one (the per-node ops of a fan-out); they move with it. */
  children?: Row[];
  /** Filled in by `flatten`: 0 for top rows, 1 for children. */
  depth?: number;
}

export interface Column {
  id: string;
  title: string;
  /** Minimum (and, without flex, fixed) width in columns. */
  width: number;
  /** Share of the spare width this column takes. */
  flex?: number;
  align?: "left" | "right";
  /** Shown only when the terminal is at least 100 columns wide. */
  wide?: boolean;
  /** Not offered by the sort cycle. */
  unsortable?: boolean;
}

export interface PlacedColumn extends Column {
  /** Width actually given. */
  w: number;
}

export const GUTTER = 2;
export const WIDE_FROM = 100;

/**
 * Give every column its width inside `total` columns (a 2-column gutter for the selection marker,
 * one space between columns). Wide columns go first below 100 columns, then flexible columns shrink
 * (to 4), then columns are dropped from the right: the table never overflows.
 */
export function layoutColumns(columns: readonly Column[], total: number): PlacedColumn[] {
  let cols = columns.filter((c) => !c.wide || total >= WIDE_FROM);
  const need = (cs: readonly Column[], widths: number[]) =>
    GUTTER + widths.reduce((a, b) => a + b, 0) + Math.max(0, cs.length - 1);
  for (;;) {
    const widths = cols.map((c) => c.width);
    let spare = total - need(cols, widths);
    const flexTotal = cols.reduce((a, c) => a + (c.flex ?? 0), 0);
    if (spare >= 0) {
      if (flexTotal > 0) {
        let given = 0;
        cols.forEach((c, i) => {
          if (!c.flex) return;
          const extra = Math.floor((spare * c.flex) / flexTotal);
          widths[i]! += extra;
          given += extra;
        });
        // Rounding leftovers go to the first flexible column.
        widths[cols.findIndex((c) => c.flex)]! += spare - given;
      }
      return cols.map((c, i) => ({ ...c, w: widths[i]! }));
    }
    for (let i = 0; i < cols.length && spare < 0; i++) {
      if (!cols[i]!.flex) continue;
      const cut = Math.min(-spare, widths[i]! - 4);
      if (cut > 0) {
        widths[i]! -= cut;
        spare += cut;
      }
    }
    if (spare >= 0) return cols.map((c, i) => ({ ...c, w: widths[i]! }));
    if (cols.length <= 1) return cols.map((c) => ({ ...c, w: Math.max(1, total - GUTTER) }));
    cols = cols.slice(0, -1);
  }
}

export interface TableQuery {
  filter: string;
  sort: { column: string; desc: boolean } | null;
}

function rowText(r: Row): string {
  const parts = Object.values(r.cells).map((c) => c.text);
  if (r.tail) parts.push(r.tail.text);
  return parts.join("\u0000").toLowerCase();
}

/** A filter matches any cell text, case-insensitively; `!text` keeps the rows that do not match. */
export function matchesFilter(r: Row, filter: string): boolean {
  const f = filter.trim().toLowerCase();
  if (!f || f === "!") return true;
  const inverse = f.startsWith("!");
  const needle = inverse ? f.slice(1) : f;
  const hit = rowText(r).includes(needle) || (r.children ?? []).some((c) => rowText(c).includes(needle));
  return inverse ? !hit : hit;
}

// One collator: localeCompare with options builds a new one on every call (slow over 500 rows).
const SORT_COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function compareCells(a: Cell | undefined, b: Cell | undefined): number {
  const va = a?.sort ?? a?.text ?? "";
  const vb = b?.sort ?? b?.text ?? "";
  if (typeof va === "number" && typeof vb === "number") return va - vb;
  return SORT_COLLATOR.compare(String(va), String(vb));
}

export function sortRows(rows: readonly Row[], sort: TableQuery["sort"]): Row[] {
  if (!sort) return [...rows];
  const dir = sort.desc ? -1 : 1;
  return rows
    .map((r, i) => ({ r, i }))
    .sort((x, y) => dir * compareCells(x.r.cells[sort.column], y.r.cells[sort.column]) || x.i - y.i)
    .map(({ r }) => (r.children ? { ...r, children: sortRows(r.children, sort) } : r));
}

/** Filter then sort, then flatten groups into one list of visible rows (children after their parent). */
export function applyQuery(rows: readonly Row[], q: TableQuery): Row[] {
  return flatten(
    sortRows(
      rows.filter((r) => matchesFilter(r, q.filter)),
      q.sort,
    ),
  );
}

/** Lines the rows take once flattened: each row and its children. */
export function countRows(rows: readonly Row[]): number {
  let n = 0;
  for (const r of rows) n += 1 + (r.children?.length ?? 0);
  return n;
}

export function flatten(rows: readonly Row[]): Row[] {
  const out: Row[] = [];
  for (const r of rows) {
    out.push(r);
    for (const c of r.children ?? []) out.push({ ...c, depth: 1 });
  }
  return out;
}

/** The next sort in the `s` cycle: each sortable column ascending in turn, then back to none. */
export function nextSort(columns: readonly Column[], cur: TableQuery["sort"]): TableQuery["sort"] {
  const ids = columns.filter((c) => !c.unsortable).map((c) => c.id);
  if (ids.length === 0) return null;
  const i = cur ? ids.indexOf(cur.column) : -1;
  const next = ids[i + 1];
  return next === undefined ? null : { column: next, desc: false };
}

/** The sort as the title line shows it: the column's title as its header reads, and the direction. */
export function sortLabel(columns: readonly Column[] | undefined, sort: TableQuery["sort"]): string {
  if (!sort) return "";
  const title = columns?.find((c) => c.id === sort.column)?.title.trim() ?? sort.column;
  return `${title}${sort.desc ? "▼" : "▲"}`;
}

/** First row of the window of `height` rows that keeps `selected` in view, near the middle. */
export function windowStart(selected: number, total: number, height: number): number {
  if (total <= height || height <= 0) return 0;
  const start = selected - Math.floor(height / 2);
  return Math.max(0, Math.min(start, total - height));
}
