import type {
  ApiMethod,
  ApiRequest,
  ApiResult,
  AuditEvent,
  BucketValue,
  Heartbeat,
  ProgressEvent,
} from "../protocol/index.js";
import type { CallOptions } from "../client/api-client.js";
import type { ClusterClient, Unsubscribe } from "../client/cluster-client.js";
import { Coalescer } from "./coalescer.js";
import { internStrings } from "../lib/intern.js";
import type { ConnectionStatus } from "../client/connection.js";
import { errorMessage } from "../lib/log.js";
import type { Watcher } from "../client/watch.js";
import { FEED_BUCKETS, type FeedBucket } from "./feed-buckets.js";

export { FEED_BUCKETS, type FeedBucket };

/** A put (or, with `value: null`, a deletion) of a KV key in a watched bucket. */
export interface BucketEvent<B extends FeedBucket> {
  kind: B;
  key: string;
  value: BucketValue<B> | null;
}

/** One change as the dashboard consumes it. */
export type FeedEvent =
  | { [B in FeedBucket]: BucketEvent<B> }[FeedBucket]
  | { kind: "progress"; key: string; value: ProgressEvent }
  | { kind: "heartbeat"; key: string; value: Heartbeat }
  /**
   * A node whose record does not validate: why (the parse error), or null once a valid record
   * or a deletion replaced it. Listed, not dropped, so the operator sees the node is there.
   */
  | { kind: "unreadableNode"; key: string; value: string | null }
  /**
   * A bucket's current state has been delivered in full; `keys` are the KV keys it holds, so a
   * consumer can drop what was deleted while it was not watching (after a reconnect).
   */
  | { kind: "ready"; key: FeedBucket; keys: string[] };

/** Longest the inventory watch waits for the nodes bucket's current state before it starts anyway. */
const LATER_MS = 2_000;

/** The feed starts every watch afresh on reconnect (below); the client must not resume them too. */
const RESTARTED_HERE = { resumeOnReconnect: false } as const;

/** What the dashboard needs from the client to issue commands (ClusterClient has it). */
export interface ApiCaller {
  call<M extends ApiMethod>(
    method: M,
    req: ApiRequest<M>,
    timeoutMs?: number,
    opts?: CallOptions,
  ): Promise<ApiResult<M>>;
}

export interface FeedSink {
  /** A coalesced batch; `received` counts the raw events it replaces. */
  batch(events: FeedEvent[], received: number): void;
  status(s: ConnectionStatus): void;
  /** Something went wrong that the operator should see (a watch that could not start). */
  problem(message: string): void;
  /** The lease TTL the controllers use (the leases bucket's max age), once known. */
  leaseTtl?(ms: number): void;
  /** New audit events as they are recorded, gathered over the flush interval (History shows them live). */
  audit?(events: AuditEvent[]): void;
}

export interface FeedOptions {
  /** Coalescing window (100–250 ms; default 250: at most 4 data-driven redraws a second). */
  flushMs?: number;
  /**
   * Heartbeats only move ages shown in whole seconds, and 500 nodes send 100 a second: they get
   * their own, longer window so they do not redraw the node list several times a second.
   */
  heartbeatFlushMs?: number;
}

export interface ClusterFeed {
  stop(): void;
  /** Resolves when every watched bucket has delivered its current state. */
  synced: Promise<void>;
}

/**
 * Feed the dashboard from the cluster: KV watches over the buckets FEED (feed-buckets.ts) names,
 * plus the heartbeat and progress subjects, all through one coalescer. Connection state goes
 * straight through (it is rare and must show at once). Waits for the first connection however
 * long it takes; after every reconnect the watches are started again (a resumed watch was seen to
 * stay silent after a server restart), and each fresh snapshot ends with the list of keys so
 * deletions made meanwhile are not missed.
 */
export function startClusterFeed(client: ClusterClient, sink: FeedSink, opts: FeedOptions = {}): ClusterFeed {
  const coalescer = new Coalescer<FeedEvent>((events, received) => sink.batch(events, received), {
    intervalMs: opts.flushMs ?? 250,
  });
  const heartbeats = new Coalescer<FeedEvent>((events, received) => sink.batch(events, received), {
    intervalMs: opts.heartbeatFlushMs ?? 1_000,
  });
  let stopped = false;
  let started = false;
  // Audit events come in bursts (a fan-out's ops ending together): one store update per flush.
  let audits: AuditEvent[] = [];
  let auditTimer: NodeJS.Timeout | undefined;
  const flushAudit = () => {
    auditTimer = undefined;
    const batch = audits;
    audits = [];
    if (batch.length > 0 && !stopped) sink.audit?.(batch);
  };
  const pushAudit = (e: AuditEvent) => {
    audits.push(e);
    auditTimer ??= setTimeout(flushAudit, opts.flushMs ?? 250);
  };
  let generation = 0;
  let watchers: Watcher[] = [];
  let subs: Unsubscribe[] = [];
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));

  /** Watch one bucket for this generation of watches; undefined when the watch cannot start. */
  const watchBucket = (bucket: FeedBucket, gen: number): Watcher | undefined => {
    const snapshot = new Set<string>();
    let live = false;
    try {
      return client.watch(
        bucket,
        (e) => {
          if (gen !== generation) return;
          if (e.type === "ready") {
            live = true;
            coalescer.push({ kind: "ready", key: bucket, keys: [...snapshot] });
            return;
          }
          if (!live) {
            if (e.type === "put") snapshot.add(e.key);
            else snapshot.delete(e.key);
          }
          if (bucket === "nodes") coalescer.push({ kind: "unreadableNode", key: e.key, value: null });
          coalescer.push({
            kind: bucket,
            key: e.key,
            // Inventories are most of what the dashboard holds (a row per node × backend).
            value: e.type !== "put" ? null : bucket === "inventory" ? internStrings(e.value) : e.value,
          } as FeedEvent);
        },
        {
          ...RESTARTED_HERE,
          // The snapshot's keys include it, so a restarted watch forgets what was repaired meanwhile.
          onInvalid:
            bucket === "nodes"
              ? (key, error) => {
                  if (gen !== generation) return;
                  if (!live) snapshot.add(key);
                  coalescer.push({ kind: "unreadableNode", key, value: error });
                }
              : undefined,
        },
      );
    } catch (e) {
      sink.problem(`cannot watch ${bucket}: ${errorMessage(e)}`);
      return undefined;
    }
  };

  const startWatches = () => {
    for (const w of watchers) w.stop();
    const gen = ++generation;
    watchers = [];
    const start = (bucket: FeedBucket) => {
      const w = watchBucket(bucket, gen);
      if (w) watchers.push(w);
      return w;
    };
    // Inventories are most of the bytes (~9 KB a node at 30 backends): they start once the node
    // records are in (or after LATER_MS), so the first screen lists every node without waiting
    // behind them.
    let later!: (w: Watcher | undefined) => void;
    const inventory = new Promise<Watcher | undefined>((r) => (later = r));
    const first = FEED_BUCKETS.filter((b) => b !== "inventory").map(start);
    const nodes = first[FEED_BUCKETS.filter((b) => b !== "inventory").indexOf("nodes")];
    let begun = false;
    const startLater = () => {
      if (begun) return;
      begun = true;
      clearTimeout(fallback);
      later(stopped || gen !== generation ? undefined : start("inventory"));
    };
    const fallback = setTimeout(startLater, LATER_MS);
    fallback.unref?.();
    void (nodes ? nodes.ready : Promise.resolve()).then(startLater);
    void Promise.all([...first.map((w) => w?.ready), inventory.then((w) => w?.ready)]).then(() => {
      if (gen === generation) markSynced();
    });
  };

  let previous: ConnectionStatus["state"] | undefined;
  const offStatus = client.onStatus((s) => {
    sink.status(s);
    if (
      started &&
      !stopped &&
      s.state === "connected" &&
      previous !== undefined &&
      previous !== "connected"
    ) {
      startWatches();
    }
    previous = s.state;
  });

  void client
    .ready()
    .then(() => {
      if (stopped) return;
      started = true;
      startWatches();
      void client
        .bucket("leases")
        .status()
        .then((st) => {
          if (!stopped && st.ttl > 0) sink.leaseTtl?.(st.ttl);
        })
        .catch(() => {
          // Keep the default; the header still says when the controller went quiet.
        });
      subs = [
        client.onProgress((p) => coalescer.push({ kind: "progress", key: p.opId, value: p })),
        client.onHeartbeat((h) => heartbeats.push({ kind: "heartbeat", key: h.nodeId, value: h })),
        ...(sink.audit ? [client.onAuditEvent(pushAudit)] : []),
      ];
    })
    .catch(() => {
      // The client was closed before it ever connected; nothing to feed.
    });

  return {
    synced,
    stop() {
      stopped = true;
      offStatus();
      for (const w of watchers) w.stop();
      for (const u of subs) u();
      watchers = [];
      subs = [];
      coalescer.stop();
      heartbeats.stop();
      clearTimeout(auditTimer);
    },
  };
}
