import type { BucketEvent, FeedEvent } from "../store/cluster-feed.js";
import {
  CONTROLLER_LEASE_KEY,
  isTerminal,
  onlyKey,
  type BucketValue,
  type Heartbeat,
  type OneKeyBucket,
  type ProgressEvent,
} from "../protocol/index.js";
import { FEED_BUCKETS, SLICES, type BucketSlices, type FeedBucket, type MapSlice } from "./feed-buckets.js";
import type { ClusterSlice } from "./types.js";

/** Bound on progress entries kept for ops the dashboard has no record of (yet). */
const MAX_ORPHAN_PROGRESS = 2_000;

function edit<K, V>(cur: ReadonlyMap<K, V>, changes: Map<K, V | null>): ReadonlyMap<K, V> {
  if (changes.size === 0) return cur;
  // O(map) pointer copies per batch, not per event: each store state is a new map (selectors see
  // a change by identity). Batches are 250 ms (1 s for heartbeats, which at 10,000 nodes carry
  // ~2,000 a batch), so this is ~0.5 ms a second at that size; the work per record is O(changes).
  const next = new Map(cur);
  for (const [k, v] of changes) {
    if (v === null) next.delete(k);
    else next.set(k, v);
  }
  return next;
}

/** A key's value at this point of a batch: the batch's own change first, then the state's. */
function valueIn<K, V>(
  cur: ReadonlyMap<K, V>,
  changes: ReadonlyMap<K, V | null>,
  k: K,
): V | null | undefined {
  // null: deleted earlier in this batch.
  return changes.has(k) ? changes.get(k) : cur.get(k);
}

/** One batch's changes to the slice of a bucket. */
interface SliceEdit<V> {
  /** A put (or, with null, a delete) of a KV key; the store key it changed, null if ignored. */
  apply(kvKey: string, value: V | null): string | null;
  /** After a (re)started watch: what the bucket no longer holds was deleted while we were away. */
  dropMissing(kvKeys: ReadonlySet<string>): void;
  /** The value at a store key at this point of the batch (undefined: unknown, null: deleted). */
  get(storeKey: string): V | null | undefined;
  /** The slice after the batch; the very same object when nothing changed. */
  result(): ReadonlyMap<string, V> | V | null;
}

function mapEdit<V>(cur: ReadonlyMap<string, V>, spec: MapSlice<never>): SliceEdit<V> {
  const storeKey = spec.storeKey as (kvKey: string, value: V | null) => string | null;
  const changes = new Map<string, V | null>();
  return {
    apply(kvKey, value) {
      const k = storeKey(kvKey, value);
      if (k !== null) changes.set(k, value);
      return k;
    },
    dropMissing(kvKeys) {
      const held = new Set([...kvKeys].map((k) => storeKey(k, null)));
      for (const k of cur.keys()) if (!held.has(k) && !changes.has(k)) changes.set(k, null);
    },
    get: (k) => valueIn(cur, changes, k),
    result: () => edit(cur, changes),
  };
}

/** A one-record bucket (settings): only its key counts. */
function valueEdit<V>(cur: V | null, only: string): SliceEdit<V> {
  let value = cur;
  return {
    apply(kvKey, v) {
      if (kvKey !== only) return null;
      value = v;
      return kvKey;
    },
    dropMissing(kvKeys) {
      if (!kvKeys.has(only)) value = null;
    },
    get: (k) => (k === only ? value : undefined),
    result: () => value,
  };
}

type SliceEdits = { [B in FeedBucket]: SliceEdit<BucketValue<B>> };

function sliceEdits(s: ClusterSlice): SliceEdits {
  return Object.fromEntries(
    FEED_BUCKETS.map((b) => {
      const spec = SLICES[b];
      const only = onlyKey(b);
      // The spec is "value" exactly for one-record buckets, whose slice is a value (SliceSpec).
      const e =
        spec === "value" && only !== undefined
          ? valueEdit(s[b as OneKeyBucket], only)
          : mapEdit(s[b] as ReadonlyMap<string, unknown>, spec as MapSlice<never>);
      return [b, e];
    }),
  ) as unknown as SliceEdits;
}

function applyEvent<B extends FeedBucket>(edits: SliceEdits, e: BucketEvent<B>): string | null {
  const slice: SliceEdit<BucketValue<B>> = edits[e.kind];
  return slice.apply(e.key, e.value);
}

/**
 * Apply one coalesced batch: every touched map is replaced once (never mutated), untouched ones
 * keep their identity so components selecting them do not re-render. Buckets are handled alike,
 * as the feed's table says; progress and heartbeats have their own rules.
 */
export function applyBatch(
  s: ClusterSlice,
  events: FeedEvent[],
  received: number,
  now: number,
): Partial<ClusterSlice> {
  const buckets = sliceEdits(s);
  const progress = new Map<string, ProgressEvent | null>();
  const heartbeats = new Map<string, Heartbeat | null>();
  const unreadable = new Map<string, string | null>();
  let synced = s.synced;
  let controller = s.controller;

  for (const e of events) {
    switch (e.kind) {
      case "progress": {
        // An op deleted earlier in this batch is gone: no progress for it.
        const op = buckets.ops.get(e.key);
        if (op === null) break;
        if (op && isTerminal(op.state)) break;
        const prev = valueIn(s.progress, progress, e.key);
        // Progress is at-most-4/s and unordered across reconnects: never step backwards in time.
        if (prev && prev.at > e.value.at) break;
        progress.set(e.key, e.value);
        break;
      }
      case "heartbeat": {
        const prev = valueIn(s.heartbeats, heartbeats, e.key);
        if (prev && prev.sentAt > e.value.sentAt) break;
        heartbeats.set(e.key, e.value);
        break;
      }
      case "unreadableNode":
        unreadable.set(e.key, e.value);
        // The valid record it replaced is stale: the node is shown as unreadable instead.
        if (e.value !== null) buckets.nodes.apply(e.key, null);
        break;
      case "ready":
        if (!synced[e.key]) synced = { ...synced, [e.key]: true };
        buckets[e.key].dropMissing(new Set(e.keys));
        if (e.key === "nodes") {
          const held = new Set(e.keys);
          for (const k of s.unreadableNodes.keys())
            if (!held.has(k) && !unreadable.has(k)) unreadable.set(k, null);
        }
        break;
      default: {
        const storeKey = applyEvent(buckets, e);
        // A finished or deleted op shows no progress.
        if (e.kind === "ops" && storeKey !== null && (!e.value || isTerminal(e.value.state)))
          progress.set(storeKey, null);
        // A renewal is the controller saying it is alive; timed by our clock, not the controller's.
        if (e.kind === "leases" && e.key === CONTROLLER_LEASE_KEY && e.value)
          controller = { leader: e.value.holder, seenAt: now };
      }
    }
  }

  const slices = Object.fromEntries(
    FEED_BUCKETS.map((b) => [b, buckets[b].result()]),
  ) as unknown as BucketSlices;
  let nextProgress = edit(s.progress, progress);
  if (nextProgress.size > MAX_ORPHAN_PROGRESS) {
    const pruned = new Map(nextProgress);
    for (const id of pruned.keys()) if (!slices.ops.has(id)) pruned.delete(id);
    nextProgress = pruned;
  }

  return {
    ...slices,
    progress: nextProgress,
    heartbeats: edit(s.heartbeats, heartbeats),
    unreadableNodes: edit(s.unreadableNodes, unreadable),
    synced,
    controller,
    lastEventAt: events.some((e) => e.kind !== "ready") ? now : s.lastEventAt,
    stats: { events: s.stats.events + received, batches: s.stats.batches + 1 },
  };
}
