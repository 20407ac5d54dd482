import type { FeedBucket, FeedEvent } from "../store/cluster-feed.js";
import {
  isTerminal,
  parseOpKey,
  SETTINGS_KEY,
  type Heartbeat,
  type Inventory,
  type NodeRecord,
  type OpRecord,
  type ProgressEvent,
  type UpgradeInfo,
} from "../protocol/index.js";
import type { ClusterSlice } from "./types.js";

/** Bound on progress entries kept for ops the dashboard has no record of (yet). */
const MAX_ORPHAN_PROGRESS = 2_000;

function edit<K, V>(cur: ReadonlyMap<K, V>, changes: Map<K, V | null>): ReadonlyMap<K, V> {
  if (changes.size === 0) return cur;
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

/**
 * Apply one coalesced batch: every touched map is replaced once (never mutated), untouched ones
 * keep their identity so components selecting them do not re-render.
 */
export function applyBatch(
  s: ClusterSlice,
  events: FeedEvent[],
  received: number,
  now: number,
): Partial<ClusterSlice> {
  const nodes = new Map<string, NodeRecord | null>();
  const inventory = new Map<string, Inventory | null>();
  const ops = new Map<string, OpRecord | null>();
  const upgrades = new Map<string, UpgradeInfo | null>();
  const progress = new Map<string, ProgressEvent | null>();
  const heartbeats = new Map<string, Heartbeat | null>();
  let settings = s.settings;
  let synced = s.synced;

  /** After a (re)started watch: what the bucket no longer holds was deleted while we were away. */
  const dropMissing = (bucket: FeedBucket, keys: Set<string>) => {
    switch (bucket) {
      case "nodes":
        for (const k of s.nodes.keys()) if (!keys.has(k) && !nodes.has(k)) nodes.set(k, null);
        break;
      case "inventory":
        for (const k of s.inventory.keys()) if (!keys.has(k) && !inventory.has(k)) inventory.set(k, null);
        break;
      case "upgrades":
        for (const k of s.upgrades.keys()) if (!keys.has(k) && !upgrades.has(k)) upgrades.set(k, null);
        break;
      case "ops": {
        const ids = new Set([...keys].map((k) => parseOpKey(k)?.opId));
        for (const id of s.ops.keys()) if (!ids.has(id) && !ops.has(id)) ops.set(id, null);
        break;
      }
      case "settings":
        if (!keys.has(SETTINGS_KEY)) settings = null;
        break;
    }
  };

  for (const e of events) {
    switch (e.kind) {
      case "nodes":
        nodes.set(e.key, e.value);
        break;
      case "inventory":
        inventory.set(e.key, e.value);
        break;
      case "ops": {
        const opId = e.value?.id ?? parseOpKey(e.key)?.opId;
        if (!opId) break;
        ops.set(opId, e.value);
        if (!e.value || isTerminal(e.value.state)) progress.set(opId, null);
        break;
      }
      case "upgrades":
        upgrades.set(e.key, e.value);
        break;
      case "settings":
        if (e.key === SETTINGS_KEY) settings = e.value;
        break;
      case "progress": {
        // An op deleted earlier in this batch is gone: no progress for it.
        const op = valueIn(s.ops, ops, e.key);
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
      case "ready":
        if (!synced[e.key]) synced = { ...synced, [e.key]: true };
        dropMissing(e.key, new Set(e.keys));
        break;
    }
  }

  let nextProgress = edit(s.progress, progress);
  if (nextProgress.size > MAX_ORPHAN_PROGRESS) {
    const opsNow = edit(s.ops, ops);
    const pruned = new Map(nextProgress);
    for (const id of pruned.keys()) if (!opsNow.has(id)) pruned.delete(id);
    nextProgress = pruned;
  }

  return {
    nodes: edit(s.nodes, nodes),
    inventory: edit(s.inventory, inventory),
    ops: edit(s.ops, ops),
    upgrades: edit(s.upgrades, upgrades),
    progress: nextProgress,
    heartbeats: edit(s.heartbeats, heartbeats),
    settings,
    synced,
    lastEventAt: events.some((e) => e.kind !== "ready") ? now : s.lastEventAt,
    stats: { events: s.stats.events + received, batches: s.stats.batches + 1 },
  };
}
