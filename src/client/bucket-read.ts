import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { TimeoutError } from "@nats-io/transport-node";
import type { z } from "zod";
import { decode } from "../protocol/index.js";
import { isTransientJetStream } from "./errors.js";

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
  onInvalid?: (key: string, error: string, revision: number) => void,
): Promise<Array<BucketRow<z.infer<S>>>> {
  const rows = await retried(async (progress) => {
    const out = new Map<string, BucketRow<z.infer<S>> | { invalid: string; revision: number }>();
    await scanLast(js, bucket, filter, false, progress, (key, m) => {
      if (!m) return out.delete(key);
      const d = decode(schema, m.data);
      out.set(key, d.ok ? { key, value: d.value, revision: m.seq } : { invalid: d.error, revision: m.seq });
    });
    return out;
  });
  const valid: Array<BucketRow<z.infer<S>>> = [];
  for (const [key, r] of rows) {
    if ("invalid" in r) onInvalid?.(key, r.invalid, r.revision);
    else valid.push(r);
  }
  return valid;
}

/**
 * A pass that delivers nothing for this long is given up for another (its consumer may sit on a
 * dead server). Silence, not the whole pass: a big bucket on a loaded machine takes longer.
 */
const SCAN_ATTEMPT_MS = 1_500;
const SCAN_ATTEMPTS = 4;

/**
 * Run a whole-bucket pass, starting it again when it stalls: nothing delivered (`progress` not
 * called) for SCAN_ATTEMPT_MS. While a server of a cluster has just died, the meta leader may
 * still place a new consumer there, and that consumer never answers; another attempt gets another
 * placement. An abandoned pass runs out on its own (its result is dropped; its consumer is deleted
 * or expires).
 */
async function retried<T>(pass: (progress: () => void) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    let last = Date.now();
    const late = Symbol("late");
    const stalled = new Promise<typeof late>((resolve) => {
      const check = () => {
        const quiet = Date.now() - last;
        if (quiet >= SCAN_ATTEMPT_MS) resolve(late);
        else timer = setTimeout(check, SCAN_ATTEMPT_MS - quiet);
      };
      timer = setTimeout(check, SCAN_ATTEMPT_MS);
    });
    const p = pass(() => (last = Date.now()));
    try {
      const r = await Promise.race([p, stalled]);
      if (r !== late) return r;
      p.catch(() => {});
      if (attempt >= SCAN_ATTEMPTS)
        throw new Error(`reading the bucket stalled for ${SCAN_ATTEMPT_MS} ms ${attempt} times`, {
          cause: new TimeoutError(),
        });
    } catch (e) {
      if (attempt >= SCAN_ATTEMPTS || !isTransientJetStream(e)) throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Every key that holds a value, malformed ones included, read as readBucket reads but with
 * headers only: the values are never sent.
 */
export async function readKeys(js: JetStreamClient, bucket: string, filter = ">"): Promise<string[]> {
  const out = await retried(async (progress) => {
    const keys = new Set<string>();
    await scanLast(js, bucket, filter, true, progress, (key, m) => (m ? keys.add(key) : keys.delete(key)));
    return keys;
  });
  return [...out];
}

/**
 * Hand `each` the last message of every key matching `filter`; undefined for a deleted key.
 * `progress` hears of every step that got an answer.
 */
async function scanLast(
  js: JetStreamClient,
  bucket: string,
  filter: string,
  headersOnly: boolean,
  progress: () => void,
  each: (key: string, m: JsMsg | undefined) => void,
): Promise<void> {
  const prefix = `$KV.${bucket}.`;
  const c = await js.consumers.get(`KV_${bucket}`, {
    filter_subjects: `${prefix}${filter}`,
    deliver_policy: DeliverPolicy.LastPerSubject,
    headers_only: headersOnly,
  });
  progress();
  try {
    const count = (await c.info()).num_pending;
    progress();
    if (count === 0) return;
    let seen = 0;
    const it = await c.fetch({ max_messages: count, expires: 30_000 });
    for await (const m of it) {
      progress();
      const op = m.headers?.get("KV-Operation");
      each(m.subject.slice(prefix.length), op === "DEL" || op === "PURGE" ? undefined : m);
      if (++seen >= count) break;
    }
  } finally {
    await c.delete().catch(() => {});
  }
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
