import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { watchBucket, type WatchEvent } from "../../src/client/watch.js";
import { encode } from "../../src/protocol/index.js";

/**
 * What nats-server 2.9 did to a controller starting beside a busy leader (rollouts-e2e): a key
 * overwritten while the watch started was counted in its pending and never delivered, so every
 * entry said one more was coming (delta 1) and the view never became ready.
 */
function stuckBucket(revisions: number[]): { js: JetStreamClient; kv: KV; stopped: () => boolean } {
  let stopped = false;
  let release = () => {};
  const js = {
    consumers: {
      get: async () => ({ info: async () => ({ num_pending: revisions.length }), delete: async () => true }),
    },
  } as unknown as JetStreamClient;
  const kv = {
    status: async () => ({ streamInfo: { state: { last_seq: revisions.at(-1)! } } }),
    watch: async () => ({
      stop: () => {
        stopped = true;
        release();
      },
      async *[Symbol.asyncIterator]() {
        for (const revision of revisions) {
          yield {
            bucket: "b",
            key: `k${revision}`,
            value: encode({ n: revision }),
            revision,
            delta: 1,
            operation: "PUT",
          } as unknown as KvWatchEntry;
        }
        await new Promise<void>((r) => (release = r));
      },
    }),
  } as unknown as KV;
  return { js, kv, stopped: () => stopped };
}

describe("a bucket watch", () => {
  it("is ready once it delivered the revision that was the bucket's last, whatever the pending count says", async () => {
    const b = stuckBucket([4, 5, 7, 8, 10]);
    const seen: Array<WatchEvent<{ n: number }>> = [];
    const w = watchBucket(b.js, "b", b.kv, z.object({ n: z.number() }), (e) => seen.push(e));
    await w.ready;
    expect(seen.map((e) => (e.type === "put" ? e.revision : e.type))).toEqual([4, 5, 7, 8, 10, "ready"]);
    w.stop();
    expect(b.stopped()).toBe(true);
  }, 5_000);
});
