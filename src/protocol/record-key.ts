import { sanitizeToken } from "./ids.js";
import type { Inventory, OpRecord } from "./records.js";
import { opKey, type BucketKey } from "./buckets.js";

/**
 * Why a record's body names another node (or op) than its key does, or null when they agree.
 * The key is what NATS permissions confine an agent to (`$KV.<p>_ops.<self>.>`, its own inventory
 * key), not the body: a reader believes the key and drops a record whose body disagrees.
 * `value` is one its bucket's schema has already accepted.
 */
export function keyDisagreement(bucket: BucketKey, key: string, value: unknown): string | null {
  if (bucket === "ops") {
    const op = value as OpRecord;
    const want = opKey(op.nodeId, op.id);
    return want === key ? null : `its body is op ${op.id} of node ${op.nodeId} (key ${want})`;
  }
  if (bucket === "inventory") {
    const inv = value as Inventory;
    return sanitizeToken(inv.nodeId) === key ? null : `its body names node ${inv.nodeId}`;
  }
  return null;
}
