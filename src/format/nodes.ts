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
  return { record, hb: fresh, lastSeen: Math.max(record.lastHeartbeatAt, hb?.sentAt ?? 0) };
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
    const v = nodeView(rec, i.heartbeats.get(rec.id));
    const seenMs = i.now - v.lastSeen;
    const stale = seenMs > STALE_AFTER_MS;
    // Past the offline threshold the row says so itself: a stopped controller leaves "healthy".
    const lost = isLost(rec, i.heartbeats.get(rec.id), i.now);
    const labels = Object.entries(v.hb.labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(",");
    rows.push({
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
        seen: { text: age(v.lastSeen, i.now), sort: seenMs, tone: stale ? "warn" : undefined },
        backends: {
          text: String(backendCount(i.inventory.get(rec.id))),
          sort: backendCount(i.inventory.get(rec.id)),
        },
        ops: { text: String(active.get(rec.id) ?? 0), sort: active.get(rec.id) ?? 0 },
        labels: { text: labels },
        agent: { text: v.hb.agentVersion },
      },
    });
  }
  for (const [id, error] of i.unreadable ?? []) {
    if (i.nodes.has(id)) continue;
    rows.push({
      key: id,
      cells: {
        status: { ...statusText(UNREADABLE_NODE_LOOK), sort: SEVERITY.offline - 1 },
        node: { text: id },
      },
      tail: { text: `record unreadable: ${oneLine(error)}`, tone: "err", from: "capability" },
    });
  }
  return i.unreadable?.size ? rows.sort((a, b) => byName(a.key, b.key)) : rows;
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
  return record.status !== "offline" && now - nodeView(record, hb).lastSeen > OFFLINE_AFTER_MS;
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
  for (const n of nodes.values()) {
    if (now !== undefined && isLost(n, heartbeats.get(n.id), now)) stale++;
    else byStatus[n.status]++;
  }
  return { total: nodes.size, byStatus, stale };
}
