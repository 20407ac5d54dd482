import { sanitizeToken } from "./ids.js";
import type { Inventory, NodeRecord, OpRecord } from "./records.js";
import { opKey, type BucketKey } from "./buckets.js";

/**
 * Why a record's body names another node (or op) than its key does, or null when they agree.
 * NATS permissions confine an agent to keys (`$KV.<p>_ops.<self>.>`, its own inventory key), not
 * to what it writes in them: a reader believes the key and drops a record whose body disagrees.
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
  if (bucket === "nodes") {
    const node = value as NodeRecord;
    return sanitizeToken(node.id) === key ? null : `its body names node ${node.id}`;
  }
  return null;
}
