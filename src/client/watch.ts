import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { z } from "zod";
import { decode } from "../protocol/index.js";
import { countKeys } from "./bucket-read.js";
import { backoffMs } from "./connection.js";
import { errorMessage, type Logger } from "../lib/log.js";

export type WatchEvent<T> =
  | { type: "put"; key: string; value: T; revision: number }
  | { type: "delete"; key: string; revision: number }
  /** The current state has been delivered; everything after this is a change. */
  | { type: "ready" };

export interface Watcher {
  stop(): void;
  /**
   * Start again from the revision after the last one delivered, with a new consumer: for a watch
   * seen to lag (its consumer was on a server that died, and the ordered consumer notices only
   * after its missed heartbeats).
   */
  restart(): void;
  /** Resolves once the initial state has been delivered. */
  ready: Promise<void>;
}

export interface WatchOptions {
  key?: string;
  /** Called once per bad key revision with the reason; the entry is skipped. */
  onInvalid?: (key: string, error: string, revision: number) => void;
  logger?: Logger;
  /**
   * Restart from the next revision after every reconnect (default). Off for a caller that
   * starts its watches afresh on reconnect itself (the dashboard feed, which re-reads the whole
   * state to learn what was deleted meanwhile): both would create a consumer for nothing.
   */
  resumeOnReconnect?: boolean;
}

/**
 * A typed watch over a bucket: current state first, then every change. Malformed values are
 * reported once per key revision and skipped, never thrown. The ordered consumer underneath
 * usually re-creates itself after a server restart, but not always (seen about one restart in
 * three on 2.9), so on every reconnect the watch is restarted from the revision after the last
 * one it delivered; entries it has already seen are skipped.
 */
export function watchBucket<S extends z.ZodType>(
  js: JetStreamClient,
  bucket: string,
  kv: KV,
  schema: S,
  onEvent: (e: WatchEvent<z.infer<S>>) => void,
  opts: WatchOptions & {
    onReconnect?: (restart: () => void) => () => void;
    /** The connection is closing for good: an error then ends the watch instead of a retry. */
    closed?: () => boolean;
  } = {},
): Watcher {
  let stopped = false;
  let current: { stop(): void } | undefined;
  let lastRevision = 0;
  let generation = 0;
  let failures = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  let isReady = false;
  /** The bucket's last revision when a watch not yet ready started: delivered, the watch is current. */
  let currentAt = 0;
  const signalReady = () => {
    if (isReady) return;
    isReady = true;
    markReady();
    onEvent({ type: "ready" });
  };

  const handle = (e: KvWatchEntry) => {
    if (e.revision <= lastRevision) return;
    lastRevision = e.revision;
    if (e.operation === "DEL" || e.operation === "PURGE") {
      onEvent({ type: "delete", key: e.key, revision: e.revision });
    } else {
      const d = decode(schema, e.value);
      if (d.ok) onEvent({ type: "put", key: e.key, value: d.value, revision: e.revision });
      else {
        opts.logger?.warn("skipping malformed KV value", { bucket: e.bucket, key: e.key, error: d.error });
        opts.onInvalid?.(e.key, d.error, e.revision);
      }
    }
    if (!isReady && ((e.delta ?? 0) === 0 || (currentAt > 0 && e.revision >= currentAt))) signalReady();
  };

  const start = async () => {
    const mine = ++generation;
    current?.stop();
    current = undefined;
    try {
      const key = opts.key ?? ">";
      if (!isReady) {
        // nats-server 2.9 can count in a new watch's pending a key overwritten while the watch
        // starts: no entry then says it is the last (delta 0), and a watch that waited for one
        // was never ready (a controller starting beside a busy leader never started).
        const [count, last] = await Promise.all([
          countKeys(js, bucket, key),
          key === ">" ? kv.status().then((s) => s.streamInfo.state.last_seq) : 0,
        ]);
        if (count === 0) signalReady();
        currentAt = last;
      }
      const iter = await kv.watch(lastRevision > 0 ? { key, resumeFromRevision: lastRevision + 1 } : { key });
      if (stopped || mine !== generation) return iter.stop();
      current = iter;
      for await (const e of iter) {
        if (stopped || mine !== generation) break;
        handle(e);
      }
      failures = 0;
    } catch (e) {
      if (stopped || mine !== generation || opts.closed?.()) return;
      // Not started yet (no stream leader after a cluster start, say) or cut off: try again
      // later, from the revision after the last one delivered; a reconnect restarts it sooner.
      const retryInMs = backoffMs(++failures);
      opts.logger?.warn("KV watch interrupted; retrying", { bucket, error: errorMessage(e), retryInMs });
      setTimeout(() => {
        if (!stopped && mine === generation) void start();
      }, retryInMs).unref();
    }
  };
  void start();
  const offReconnect = opts.onReconnect?.(() => {
    if (!stopped) void start();
  });

  return {
    ready,
    restart() {
      if (!stopped) void start();
    },
    stop() {
      stopped = true;
      offReconnect?.();
      current?.stop();
    },
  };
}
