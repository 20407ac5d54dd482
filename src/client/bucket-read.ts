import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { z } from "zod";
import { decode } from "../protocol/index.js";

export interface BucketRow<T> {
  key: string;
  value: T;
  revision: number;
}

/**
 * Read a whole KV bucket (or a key filter) in one streamed pass: an ordered consumer that
 * delivers the last value of every key, counted up front so the read ends exactly there.
 * (`kv.keys()` from @nats-io/kv 3.x can repeat a key, or never end, when the bucket is written
 * to while it iterates, so it is not used.) Deleted keys and malformed values are left out;
 * `onInvalid` hears about the malformed ones.
 */
export async function readBucket<S extends z.ZodType>(
  js: JetStreamClient,
  bucket: string,
  schema: S,
  filter = ">",
  onInvalid?: (key: string, error: string) => void,
): Promise<Array<BucketRow<z.infer<S>>>> {
  const prefix = `$KV.${bucket}.`;
  const c = await js.consumers.get(`KV_${bucket}`, {
    filter_subjects: `${prefix}${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  const out = new Map<string, BucketRow<z.infer<S>>>();
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
        const d = decode(schema, m.data);
        if (d.ok) out.set(key, { key, value: d.value, revision: m.seq });
        else onInvalid?.(key, d.error);
      }
      if (++seen >= count) break;
    }
  } finally {
    await c.delete().catch(() => {});
  }
  return [...out.values()];
}

/** How many keys (deleted ones included) match a filter, without reading them. */
export async function countKeys(js: JetStreamClient, bucket: string, filter = ">"): Promise<number> {
  const c = await js.consumers.get(`KV_${bucket}`, {
    filter_subjects: `$KV.${bucket}.${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  try {
    return (await c.info()).num_pending;
  } finally {
    await c.delete().catch(() => {});
  }
}
