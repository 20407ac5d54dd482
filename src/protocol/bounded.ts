/**
 * Replies that would name every node of the fleet carry the first rows only, with totals, so
 * that no reply grows past NATS's default max payload (1 MB) however big the fleet.
 *
 * Budget per listed part of a reply: at most REPLY_ROWS rows and REPLY_BYTES bytes of JSON. A
 * reply has at most three such parts (admitted and refused; a plan's moves and skips), so it
 * stays under 3 × 192 KiB plus a few KB of totals, whatever the rows hold (a refusal's text
 * is up to 1,024 characters, so a count of rows alone would not bound it).
 */
export const REPLY_ROWS = 1_000;
export const REPLY_BYTES = 192 * 1024;
/** `ops.history`'s one list (limit ≤ 10,000 events of up to 16 KB each) stays under this. */
export const HISTORY_REPLY_BYTES = 768 * 1024;

/** The first rows of `rows` that fit `maxRows` and `maxBytes` of JSON, and whether any were left out. */
export function firstRows<T>(
  rows: readonly T[],
  maxRows = REPLY_ROWS,
  maxBytes = REPLY_BYTES,
): { rows: T[]; cut: boolean } {
  const out: T[] = [];
  let bytes = 2;
  for (const row of rows) {
    if (out.length >= maxRows) break;
    // One more row and its comma.
    const size = Buffer.byteLength(JSON.stringify(row)) + 1;
    if (bytes + size > maxBytes) break;
    bytes += size;
    out.push(row);
  }
  return { rows: out, cut: out.length < rows.length };
}
