import { DeliverPolicy } from "@nats-io/jetstream";
import type { ClusterClient } from "../client/index.js";
import { bucketSchemas, type BucketValue } from "../client/cluster-client.js";
import { bucketNames, decode, type BucketKey } from "../protocol/index.js";

export interface Snap<T> {
  key: string;
  value: T;
  revision: number;
}

/**
 * A read of a whole bucket (or a key filter) in one streamed pass: an ordered consumer that
 * delivers the last value of every key, counted up front so the read ends exactly there.
 * (`kv.keys()` from @nats-io/kv 3.x can repeat a key, or never end, when the bucket is written
 * to while it iterates, so it is not used.) Deleted keys and malformed values are left out.
 */
export async function snapshot<B extends BucketKey>(
  client: ClusterClient,
  bucket: B,
  filter = ">",
): Promise<Array<Snap<BucketValue<B>>>> {
  const name = bucketNames(client.prefix)[bucket];
  const prefix = `$KV.${name}.`;
  const c = await client.js.consumers.get(`KV_${name}`, {
    filter_subjects: `${prefix}${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  const out = new Map<string, Snap<BucketValue<B>>>();
  try {
    const count = (await c.info()).num_pending;
    if (count === 0) return [];
    let seen = 0;
    const it = await c.fetch({ max_messages: count, expires: 30_000 });
    for await (const m of it) {
      const key = m.subject.slice(prefix.length);
      const op = m.headers?.get("KV-Operation");
      if (op === "DEL" || op === "PURGE") out.delete(key);
      else {
        const d = decode(bucketSchemas[bucket], m.data);
        if (d.ok) out.set(key, { key, value: d.value as BucketValue<B>, revision: m.seq });
      }
      if (++seen >= count) break;
    }
  } finally {
    await c.delete().catch(() => {});
  }
  return [...out.values()];
}

/** Keys of a bucket matching a filter (see `snapshot` for why not `kv.keys()`). */
export async function keysOf(client: ClusterClient, bucket: BucketKey, filter = ">"): Promise<string[]> {
  return (await snapshot(client, bucket, filter)).map((s) => s.key).sort();
}
