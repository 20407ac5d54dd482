import { z } from "zod";

/**
 * The JSON a page's rows may take at most, whatever its `limit`: half of NATS's default 1 MiB
 * max_payload, leaving room for the envelope and the fields beside the rows.
 */
export const PAGE_BYTES = 512 * 1024;

/*
 * Rows per page by default and at most. PAGE_BYTES cuts a page of unusually large rows short;
 * these make a page of ordinary rows a few hundred KB (bench/cli-lists prints the row sizes).
 */
export const NODES_PAGE = { default: 1_000, max: 1_000 } as const;
export const OPS_PAGE = { default: 1_000, max: 2_000 } as const;
export const ROLLOUT_NODES_PAGE = { default: 2_000, max: 5_000 } as const;

/** A cursor: the key of the last row of the previous page (a record key, or a position). */
type Cursor = string | number;

/**
 * The request fields of a paged list: at most `limit` rows after the row whose key is `after`
 * (exclusive), in key order. `min` 0 lets a caller ask for what comes beside the rows only.
 */
export function pageRequest<C extends z.ZodType<Cursor>>(
  cursor: C,
  limits: { default: number; max: number },
  min = 1,
) {
  return {
    limit: z.number().int().min(min).max(limits.max).default(limits.default),
    /** The previous page's `next`; unset: from the first row. */
    after: cursor.optional(),
  };
}

/** The reply fields of a paged list. */
export function pageReply<C extends z.ZodType<Cursor>>(cursor: C) {
  return {
    /** Pass as `after` for the next page; absent on the last page. */
    next: cursor.optional(),
    /** Rows in the whole list (every page) when this page was read. */
    total: z.number().int().nonnegative(),
  };
}

export interface Page<T, C extends Cursor> {
  rows: T[];
  next?: C;
  total: number;
}

const byteLength = (row: unknown): number => Buffer.byteLength(JSON.stringify(row));

/**
 * One page of `rows` (the whole list, in any order): those whose key sorts after `after` (plain
 * `<` order, code units for strings), at most `limit` of them and at most `maxBytes` of JSON, but
 * at least one while any remain, so paging always moves on. `next` is the key of the page's last
 * row when more follow. Rows are keyed uniquely, so a row is on exactly one page however the
 * list changes between pages (a row added behind the cursor is simply not seen).
 */
export function takePage<T, C extends Cursor>(
  rows: readonly T[],
  keyOf: (row: T) => C,
  o: { after?: C; limit: number; maxBytes?: number },
): Page<T, C> {
  // O(n log n) in the whole list per page, so reading every page costs pages × that: no index is
  // kept between requests, which at 10,000 rows costs under 10 ms a page (bench/cli-lists).
  const after = o.after;
  const rest = (after === undefined ? [...rows] : rows.filter((r) => keyOf(r) > after)).sort((a, b) => {
    const ka = keyOf(a);
    const kb = keyOf(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const maxBytes = o.maxBytes ?? PAGE_BYTES;
  const page: T[] = [];
  let bytes = 0;
  for (const row of rest) {
    if (page.length >= o.limit) break;
    const size = byteLength(row);
    if (page.length > 0 && bytes + size > maxBytes) break;
    page.push(row);
    bytes += size;
  }
  const last = page.at(-1);
  return {
    rows: page,
    total: rows.length,
    ...(last !== undefined && page.length < rest.length ? { next: keyOf(last) } : {}),
  };
}
