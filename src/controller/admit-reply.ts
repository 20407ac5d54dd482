import { firstRows, type Admitted, type AdmitReply, type Refused } from "../protocol/index.js";

/**
 * An admission's reply from its full results (in node order): the totals, and every row when
 * they fit, else the first rows of each list with existing ops before new ones (a new op is
 * found by its batch's id prefix, an existing one only by being listed). Bounded whatever the
 * number of nodes (see REPLY_ROWS, REPLY_BYTES).
 */
export function admitReply(
  admitted: readonly Admitted[],
  refused: readonly Refused[],
  batch: string,
): AdmitReply {
  const existing = admitted.filter((a) => a.existing);
  const whole = firstRows(admitted);
  const a = whole.cut ? firstRows([...existing, ...admitted.filter((x) => !x.existing)]) : whole;
  const r = firstRows(refused);
  return {
    admitted: a.rows,
    refused: r.rows,
    counts: { admitted: admitted.length, existing: existing.length, refused: refused.length },
    batch,
    truncated: a.cut || r.cut,
  };
}
