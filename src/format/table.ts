import type { Tone } from "../theme/tokens.js";
import { displayWidth } from "./text.js";

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
  /** Minimum width in columns (fixed for a column whose cells are drawn live). */
  width: number;
  /**
   * Free text: in a table that fills its width (`layoutColumns` without rows) it takes this share
   * of the spare width, and it may be cut down to 4 columns before any column is dropped.
   */
  flex?: number;
  align?: "left" | "right";
  /** Shown only when the terminal is at least 100 columns wide. */
  wide?: boolean;
  /** Not offered by the sort cycle. */
  unsortable?: boolean;
  /**
   * What tells rows apart (a node, a backend, an op): it keeps the width of its content while
   * other columns shrink or drop (beyond 40 % of the table it gives way first), and is cut below
   * its minimum only when nothing else can go.
   */
  identity?: boolean;
  /** When the table is too narrow, secondary columns go in this order (lowest first), then the others right to left. */
  drop?: number;
  /** What the view is for (an op's progress): dropped only once identity columns are at their minimum. */
  keep?: boolean;
}

export interface PlacedColumn extends Column {
  /** Width actually given. */
  w: number;
}

export const GUTTER = 2;
export const WIDE_FROM = 100;
/** Beyond this share of the table, an identity column's content is cut before anything else gives. */
const IDENTITY_SHARE = 0.4;
/** Narrowest a cut column gets. */
const MIN_CUT = 4;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Display width of each of a row's cells (and its tail), measured once per Row object. */
const cellWidthsOf = new WeakMap<Row, Record<string, number>>();

function cellWidths(r: Row): Record<string, number> {
  let w = cellWidthsOf.get(r);
  if (!w) {
    w = {};
    for (const [id, c] of Object.entries(r.cells)) {
      // Most cells are plain ASCII: their length is their width.
      if (c.text) w[id] = PRINTABLE_ASCII.test(c.text) ? c.text.length : displayWidth(c.text);
    }
    cellWidthsOf.set(r, w);
  }
  return w;
}

/** `to` has the very cell texts of `from` (a row rebuilt for a change that shows elsewhere): reuse its widths. */
export function sameWidths(from: Row, to: Row): void {
  const w = cellWidthsOf.get(from);
  if (w) cellWidthsOf.set(to, w);
}

/**
 * The widest text of each column (title included), children's `└ ` prefix counted. A pass over
 * every row whenever the rows change: widths follow all rows, not only the visible ones (no
 * jitter on scroll); each row is measured once (cellWidths), so the pass only compares numbers.
 */
function contentWidths(cols: readonly Column[], rows: readonly Row[]): Map<string, number> {
  const out = new Map(cols.map((c) => [c.id, displayWidth(c.title)]));
  const first = cols[0]?.id;
  const visit = (r: Row, depth: number) => {
    const ws = cellWidths(r);
    for (const c of cols) {
      const cw = ws[c.id];
      if (cw === undefined) continue;
      const w = cw + (depth > 0 && c.id === first ? 2 : 0);
      if (w > out.get(c.id)!) out.set(c.id, w);
    }
  };
  for (const r of rows) {
    visit(r, r.depth ?? 0);
    // Unflattened groups: their children are drawn too.
    if (r.depth === undefined) for (const ch of r.children ?? []) visit(ch, 1);
  }
  return out;
}

/**
 * Give every column its width inside `total` columns (a 2-column gutter for the selection marker,
 * one space between columns); the table never overflows. With `rows`, each column is as wide as
 * its content (never below its minimum) and what is left stays blank; without, columns keep
 * their minimum and flexible ones share the spare width. When that does not fit, secondary
 * columns shrink to their minimum (free text to 4), then drop (`drop` order, then right to left);
 * identity columns shrink to their minimum before a `keep` column drops, and are cut below it last. Wide columns show only from 100 columns.
 */
export function layoutColumns(
  columns: readonly Column[],
  total: number,
  rows?: readonly Row[],
): PlacedColumn[] {
  let cols = columns.filter((c) => !c.wide || total >= WIDE_FROM);
  const content = rows ? contentWidths(cols, rows) : undefined;
  const identityCap = Math.floor(total * IDENTITY_SHARE);
  const want = (c: Column) => Math.max(c.width, content?.get(c.id) ?? c.width);
  const dropOrder = cols
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => !c.identity)
    .sort(
      (a, b) =>
        Number(a.c.keep ?? false) - Number(b.c.keep ?? false) ||
        (a.c.drop ?? Infinity) - (b.c.drop ?? Infinity) ||
        b.i - a.i,
    )
    .map(({ c }) => c);

  for (;;) {
    const widths = cols.map(want);
    let over = GUTTER + widths.reduce((a, b) => a + b, 0) + Math.max(0, cols.length - 1) - total;
    const shrink = (i: number, floor: number) => {
      const cut = Math.min(over, widths[i]! - floor);
      if (cut > 0) {
        widths[i]! -= cut;
        over -= cut;
      }
    };
    for (let i = cols.length - 1; i >= 0 && over > 0; i--)
      if (cols[i]!.identity) shrink(i, Math.max(cols[i]!.width, identityCap));
    for (let i = cols.length - 1; i >= 0 && over > 0; i--) if (!cols[i]!.identity) shrink(i, cols[i]!.width);
    for (let i = cols.length - 1; i >= 0 && over > 0; i--)
      if (!cols[i]!.identity && cols[i]!.flex) shrink(i, MIN_CUT);
    const next = dropOrder.find((c) => cols.includes(c));
    // Before a column the view is for goes, identity columns give up what they have over their minimum.
    if (over > 0 && next?.keep)
      for (let i = cols.length - 1; i >= 0 && over > 0; i--) shrink(i, cols[i]!.width);
    if (over > 0 && next && cols.length > 1) {
      cols = cols.filter((c) => c !== next);
      continue;
    }
    // Only identity columns are left to give: cut them, then drop from the right.
    for (let i = cols.length - 1; i >= 0 && over > 0; i--) shrink(i, MIN_CUT);
    if (over > 0) {
      if (cols.length <= 1) return cols.map((c) => ({ ...c, w: Math.max(1, total - GUTTER) }));
      cols = cols.slice(0, -1);
      continue;
    }
    if (!content && over < 0) {
      const spare = -over;
      const flexTotal = cols.reduce((a, c) => a + (c.flex ?? 0), 0);
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
    }
    return cols.map((c, i) => ({ ...c, w: widths[i]! }));
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
  const f = q.filter.trim();
  const kept = f === "" || f === "!" ? rows : rows.filter((r) => matchesFilter(r, q.filter));
  return flatten(sortRows(kept, q.sort));
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
