import {
  HEARTBEAT_INTERVAL_MS,
  isActive,
  OFFLINE_AFTER_MS,
  UNHEALTHY_AFTER_MISSED,
  type Heartbeat,
  type Inventory,
  type NodeRecord,
  type NodeStatus,
  type OpRecord,
} from "../protocol/index.js";
import { STALE_NODE_LOOK, UNREADABLE_NODE_LOOK } from "../theme/symbols.js";
import { nodeStatusText, statusText } from "./status.js";
import type { Column, Row } from "./table.js";
import { age, bytes } from "./units.js";

/**
 * A node whose last heartbeat is older than this is shown dimmed, with its age; past
 * OFFLINE_AFTER_MS its status reads "✗ stale" whatever the record says.
 */
export const STALE_AFTER_MS = HEARTBEAT_INTERVAL_MS * UNHEALTHY_AFTER_MISSED;

/**
 * The controller rewrites a healthy node's record only every OFFLINE_AFTER_MS / 2 (it coalesces
 * heartbeats), so until the dashboard hears the node's own heartbeat (a few seconds after
 * connecting) a live node's record can be that much older: judged by the record alone, a healthy
 * node is stale only past this.
 */
export const RECORD_STALE_AFTER_MS = OFFLINE_AFTER_MS / 2 + STALE_AFTER_MS;

/** How old a node's last heartbeat may be before its row is dimmed (see RECORD_STALE_AFTER_MS). */
export function staleAfter(record: NodeRecord, hb: Heartbeat | undefined): number {
  return !hb && record.status === "healthy" ? RECORD_STALE_AFTER_MS : STALE_AFTER_MS;
}

const SEVERITY: Record<NodeStatus, number> = {
  offline: 0,
  unhealthy: 1,
  pending: 2,
  draining: 3,
  healthy: 4,
};

/** The node identifies a row; the others go when the terminal is narrow, least telling first. */
export const NODE_COLUMNS: Column[] = [
  { id: "status", title: "STATUS", width: 11, keep: true },
  { id: "node", title: "NODE", width: 10, identity: true },
  // 14 holds `nvidia-cuda-12` whole: the -12 is the part that matters.
  { id: "capability", title: "CAPABILITY", width: 14, drop: 6 },
  { id: "gpu", title: "GPU", width: 8, flex: 1, drop: 4 },
  { id: "vram", title: "VRAM", width: 5, align: "right", drop: 1 },
  { id: "disk", title: "DISK", width: 5, align: "right", drop: 2 },
  { id: "seen", title: "SEEN", width: 6, align: "right", drop: 7 },
  { id: "backends", title: "BE", width: 3, align: "right", drop: 3 },
  { id: "ops", title: "OPS", width: 3, align: "right", drop: 5 },
  { id: "labels", title: "LABELS", width: 14, flex: 1, wide: true, drop: 0 },
  { id: "agent", title: "AGENT", width: 8, wide: true, drop: 0 },
];

/** Natural order of names ("gpu-2" before "gpu-10"): every list starts from it before any sort. */
const NAME_COLLATOR = new Intl.Collator(undefined, { numeric: true });
export const byName = (a: string, b: string): number => NAME_COLLATOR.compare(a, b);

export interface NodeView {
  record: NodeRecord;
  /** The freshest heartbeat we have: the subject's, or the one saved in the record. */
  hb: Heartbeat;
  lastSeen: number;
}

export function nodeView(record: NodeRecord, hb: Heartbeat | undefined): NodeView {
  const fresh = hb && hb.sentAt > record.last.sentAt ? hb : record.last;
  return { record, hb: fresh, lastSeen: lastSeenOf(record, hb) };
}

export function gpuText(hb: Heartbeat): string {
  if (hb.gpu.vendor === "none") return "cpu";
  return (hb.gpu.model ?? hb.gpu.vendor).replace(/^NVIDIA\s+/i, "");
}

export function activeOpsByNode(ops: ReadonlyMap<string, OpRecord>): Map<string, number> {
  const out = new Map<string, number>();
  for (const op of ops.values()) if (isActive(op)) out.set(op.nodeId, (out.get(op.nodeId) ?? 0) + 1);
  return out;
}

export function backendCount(inv: Inventory | undefined): number {
  return inv ? inv.backends.filter((b) => !b.isMeta).length : 0;
}

export interface NodeRowsInput {
  nodes: ReadonlyMap<string, NodeRecord>;
  heartbeats: ReadonlyMap<string, Heartbeat>;
  inventory: ReadonlyMap<string, Inventory>;
  ops: ReadonlyMap<string, OpRecord>;
  now: number;
  /** Node ids whose record does not validate, with why: a row each, marked so. */
  unreadable?: ReadonlyMap<string, string>;
}

export function nodeRows(i: NodeRowsInput): Row[] {
  const active = activeOpsByNode(i.ops);
  const rows: Row[] = [];
  const ids = [...i.nodes.keys()].sort(byName);
  for (const id of ids) {
    const rec = i.nodes.get(id)!;
    rows.push(
      nodeRow(rec, i.heartbeats.get(rec.id), i.inventory.get(rec.id), active.get(rec.id) ?? 0, i.now),
    );
  }
  for (const [id, error] of i.unreadable ?? []) {
    if (i.nodes.has(id)) continue;
    rows.push(unreadableNodeRow(id, error));
  }
  return i.unreadable?.size ? rows.sort((a, b) => byName(a.key, b.key)) : rows;
}

/** One node's row; `now` moves only its age, and its look when it crosses nodePhase's thresholds. */
export function nodeRow(
  rec: NodeRecord,
  hb: Heartbeat | undefined,
  inv: Inventory | undefined,
  activeOps: number,
  now: number,
): Row {
  const v = nodeView(rec, hb);
  const { phase } = nodePhase(v.lastSeen, now, staleAfter(rec, hb));
  const stale = phase >= 1;
  // Past the offline threshold the row says so itself: a stopped controller leaves "healthy".
  const lost = rec.status !== "offline" && phase === 2;
  const labels = Object.entries(v.hb.labels ?? {})
    .map(([k, val]) => `${k}=${val}`)
    .join(",");
  const be = backendCount(inv);
  return {
    key: rec.id,
    dim: stale || rec.status === "offline",
    cells: {
      status: lost
        ? { ...statusText(STALE_NODE_LOOK), sort: SEVERITY.offline }
        : { ...nodeStatusText(rec.status), sort: SEVERITY[rec.status] },
      node: { text: rec.id },
      capability: { text: v.hb.capability },
      gpu: { text: gpuText(v.hb) },
      vram: {
        text: v.hb.gpu.vendor === "none" ? "-" : bytes(v.hb.gpu.vramBytes),
        sort: v.hb.gpu.vramBytes,
      },
      disk: {
        text: bytes(v.hb.disk.freeBytes),
        sort: v.hb.disk.freeBytes,
        tone:
          v.hb.disk.totalBytes > 0 && v.hb.disk.freeBytes / v.hb.disk.totalBytes < 0.1 ? "warn" : undefined,
      },
      // Sorted by when, not by how long ago: the same order, and it holds as the clock moves.
      seen: { text: age(v.lastSeen, now), sort: -v.lastSeen, tone: stale ? "warn" : undefined },
      backends: { text: String(be), sort: be },
      ops: { text: String(activeOps), sort: activeOps },
      labels: { text: labels },
      agent: { text: v.hb.agentVersion },
    },
  };
}

/** A node whose record does not validate: listed, marked so, with why. */
export function unreadableNodeRow(id: string, error: string): Row {
  return {
    key: id,
    cells: {
      status: { ...statusText(UNREADABLE_NODE_LOOK), sort: SEVERITY.offline - 1 },
      node: { text: id },
    },
    tail: { text: `record unreadable: ${oneLine(error)}`, tone: "err", from: "capability" },
  };
}

/**
 * What the clock changes in a node's row besides its age: 0 fresh, 1 stale (dimmed), 2 lost
 * (past the offline threshold), and when that next changes (Infinity: not by time alone).
 */
export function nodePhase(
  lastSeen: number,
  now: number,
  staleAfterMs = STALE_AFTER_MS,
): { phase: 0 | 1 | 2; until: number } {
  const seenMs = now - lastSeen;
  if (seenMs > OFFLINE_AFTER_MS) return { phase: 2, until: Infinity };
  if (seenMs > staleAfterMs) return { phase: 1, until: lastSeen + OFFLINE_AFTER_MS };
  return { phase: 0, until: lastSeen + staleAfterMs };
}

/** The first line of a parse error, its whitespace runs made single spaces. */
function oneLine(s: string): string {
  return s.split("\n")[0]!.replace(/\s+/g, " ").trim();
}

export interface NodeCounts {
  total: number;
  /** By the record's status; a stale node is counted under `stale` instead. */
  byStatus: Record<NodeStatus, number>;
  /** Silent past the offline threshold though the record does not say offline (as the rows show). */
  stale: number;
}

/** Whether the dashboard itself calls a node stale (see nodeRows). */
export function isLost(record: NodeRecord, hb: Heartbeat | undefined, now: number): boolean {
  return record.status !== "offline" && now - lastSeenOf(record, hb) > OFFLINE_AFTER_MS;
}

/** nodeView's lastSeen without building the view (nodeCounts runs it over the fleet every second). */
export function lastSeenOf(record: NodeRecord, hb: Heartbeat | undefined): number {
  return Math.max(record.lastHeartbeatAt, hb?.sentAt ?? 0);
}

export function nodeCounts(
  nodes: ReadonlyMap<string, NodeRecord>,
  heartbeats: ReadonlyMap<string, Heartbeat> = new Map(),
  now?: number,
): NodeCounts {
  const byStatus: Record<NodeStatus, number> = {
    healthy: 0,
    unhealthy: 0,
    offline: 0,
    draining: 0,
    pending: 0,
  };
  let stale = 0;
  // O(fleet) on each 1 s tick, not per event: one comparison a node, no allocation (~0.2 ms at 10,000).
  for (const n of nodes.values()) {
    if (now !== undefined && isLost(n, heartbeats.get(n.id), now)) stale++;
    else byStatus[n.status]++;
  }
  return { total: nodes.size, byStatus, stale };
}
