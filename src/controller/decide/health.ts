import { roughDuration } from "./duration.js";
import {
  HEARTBEAT_INTERVAL_MS,
  OFFLINE_AFTER_MS,
  SCHEMA_VERSION,
  UNHEALTHY_AFTER_MISSED,
  type Heartbeat,
  type NodeRecord,
  type NodeStatus,
} from "../../protocol/index.js";

export interface HealthRules {
  heartbeatIntervalMs: number;
  unhealthyAfterMissed: number;
  /** Tolerance on top of `missed × interval` for a heartbeat that is merely late. */
  slackMs: number;
  offlineAfterMs: number;
  /** First-seen nodes wait in `pending` until an admin approves them. */
  requireApproval: boolean;
  /**
   * The longest a live node's record goes without a write (default: half of `offlineAfterMs`,
   * 30 s): see recordRefreshMs.
   */
  recordRefreshMs?: number;
}

/**
 * A heartbeat that changes nothing but the time is written to the node record only once the
 * stored heartbeat time is this old, so 10,000 nodes cost ~300 writes/s instead of 2,000. Half
 * the offline threshold: a live node's stored time is then at most this plus one interval old
 * (35 s by default), so whoever reads the record alone (`nodes list`, another replica, a new
 * leader) never takes a live node for offline, and an age shown from it still says "seconds
 * ago". The leader judges silence from the heartbeats it heard, not from the record.
 */
export function recordRefreshMs(rules: Pick<HealthRules, "recordRefreshMs" | "offlineAfterMs">): number {
  return rules.recordRefreshMs ?? Math.floor(rules.offlineAfterMs / 2);
}

/** A change of free disk space smaller than this (and than 1 % of the disk) waits for the refresh. */
const DISK_STEP_BYTES = 2 ** 30;

export const DEFAULT_HEALTH_RULES: HealthRules = {
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  unhealthyAfterMissed: UNHEALTHY_AFTER_MISSED,
  slackMs: 1_000,
  offlineAfterMs: OFFLINE_AFTER_MS,
  requireApproval: false,
};

/** Statuses an admin sets that a heartbeat alone never leaves. */
const STICKY: readonly NodeStatus[] = ["pending", "draining"];

/**
 * The node record after a heartbeat arrives (at controller time `now`, not the agent's clock).
 * A first heartbeat creates the record; a fresh one brings `unhealthy`/`offline` back to
 * `healthy`; `pending` and `draining` stay as they are.
 */
export function applyHeartbeat(
  prev: NodeRecord | undefined,
  hb: Heartbeat,
  now: number,
  rules: HealthRules,
): NodeRecord {
  if (!prev) {
    const pending = rules.requireApproval;
    return {
      v: SCHEMA_VERSION,
      id: hb.nodeId,
      status: pending ? "pending" : "healthy",
      statusReason: pending ? "first seen; awaiting approval" : "first heartbeat",
      statusSince: now,
      firstSeenAt: now,
      lastHeartbeatAt: now,
      last: hb,
      approved: !pending,
    };
  }
  const next: NodeRecord = { ...prev, last: hb, lastHeartbeatAt: Math.max(now, prev.lastHeartbeatAt) };
  if (!STICKY.includes(prev.status) && prev.status !== "healthy") {
    next.status = "healthy";
    next.statusReason = `heartbeat resumed (was ${prev.status})`;
    next.statusSince = now;
  }
  return next;
}

/**
 * The record to write for a heartbeat heard at `now`, or null when the stored one still says
 * everything but the time: a healthy node, the same heartbeat apart from `sentAt` and small disk
 * moves, and a stored heartbeat time younger than recordRefreshMs. Pending and draining nodes
 * (few, set by an admin) are written on every heartbeat: approve and resume judge their silence
 * from the record alone.
 */
export function heartbeatWrite(
  prev: NodeRecord | undefined,
  hb: Heartbeat,
  now: number,
  rules: HealthRules,
): NodeRecord | null {
  if (
    prev?.status === "healthy" &&
    now - prev.lastHeartbeatAt < recordRefreshMs(rules) &&
    sameButTime(prev.last, hb)
  ) {
    return null;
  }
  return applyHeartbeat(prev, hb, now, rules);
}

/** Whether two heartbeats of a node say the same thing for the record (see heartbeatWrite). */
export function sameButTime(a: Heartbeat, b: Heartbeat): boolean {
  return (
    a.v === b.v &&
    a.nodeId === b.nodeId &&
    a.name === b.name &&
    a.capability === b.capability &&
    a.agentVersion === b.agentVersion &&
    // Admission waits behind it and the reaper spares queued work while it is above zero.
    a.runningOps === b.runningOps &&
    a.gpu.vendor === b.gpu.vendor &&
    a.gpu.model === b.gpu.model &&
    a.gpu.vramBytes === b.gpu.vramBytes &&
    a.gpu.cudaMajor === b.gpu.cudaMajor &&
    a.disk.totalBytes === b.disk.totalBytes &&
    Math.abs(a.disk.freeBytes - b.disk.freeBytes) < Math.max(DISK_STEP_BYTES, a.disk.totalBytes / 100) &&
    sameLabels(a.labels, b.labels)
  );
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

export interface StatusChange {
  status: NodeStatus;
  reason: string;
}

/**
 * What a health tick does to one node: `unhealthy` after the configured number of missed
 * heartbeats, `offline` after `offlineAfterMs` of silence (from `unhealthy` too, which LocalAI
 * never did). Sticky statuses never change here. Null when nothing changes. `heardAt` is when
 * the judge last heard the node (the record's time is up to recordRefreshMs older).
 */
export function healthTick(
  rec: NodeRecord,
  now: number,
  rules: HealthRules,
  heardAt = rec.lastHeartbeatAt,
): StatusChange | null {
  if (STICKY.includes(rec.status)) return null;
  const due = statusBySilence(now - Math.max(heardAt, rec.lastHeartbeatAt), rules);
  if (due.status === "offline" && rec.status !== "offline") return due;
  if (due.status === "unhealthy" && rec.status === "healthy") return due;
  return null;
}

/** The status a node's heartbeat age alone implies. */
export function statusBySilence(silenceMs: number, rules: HealthRules): StatusChange {
  if (silenceMs >= rules.offlineAfterMs) {
    return { status: "offline", reason: `no heartbeat for ${roughDuration(silenceMs)}` };
  }
  if (silenceMs > rules.unhealthyAfterMissed * rules.heartbeatIntervalMs + rules.slackMs) {
    return { status: "unhealthy", reason: `missed ${rules.unhealthyAfterMissed} heartbeats` };
  }
  return { status: "healthy", reason: "heartbeat is fresh" };
}

/**
 * The health monitor's own liveness. Silence is judged only on heartbeats the monitor had the
 * chance to read: if it did not run for longer than it should have (a SIGSTOP, a long GC pause,
 * a blocked event loop, becoming leader), heartbeats may be waiting unread, so no node changes
 * state on silence until it has been running again for one heartbeat interval (plus slack).
 * Time is passed in: the decision is pure.
 */
export class StallGuard {
  private last?: number;
  private holdUntil = 0;

  /**
   * `expectedGapMs`: the longest the monitor normally goes between two observations (its tick);
   * a gap longer than that plus one heartbeat interval is a stall.
   */
  constructor(
    private readonly expectedGapMs: number,
    private readonly rules: Pick<HealthRules, "heartbeatIntervalMs" | "slackMs">,
  ) {}

  /** Hold from `now` (the monitor starts, or was away). */
  hold(now: number): void {
    this.last = now;
    this.holdUntil = Math.max(this.holdUntil, now + this.rules.heartbeatIntervalMs + this.rules.slackMs);
  }

  /**
   * The monitor is running at `now`. Returns the stall just detected (its length), if any; a
   * stall starts a hold.
   */
  observe(now: number): { stalledMs: number } | null {
    const gap = this.last === undefined ? 0 : now - this.last;
    this.last = now;
    if (gap <= this.expectedGapMs + this.rules.heartbeatIntervalMs) return null;
    this.hold(now);
    return { stalledMs: gap };
  }

  /** May silence change a node's state at `now`? */
  mayJudge(now: number): boolean {
    return now >= this.holdUntil;
  }
}

export type AdminAction = "approve" | "drain" | "resume";

export type AdminResult = { ok: true; record: NodeRecord; changed: boolean } | { ok: false; error: string };

/**
 * An admin's action on a node. Approve only leaves `pending`; resume only leaves `draining`
 * (to whatever the heartbeat says); drain works from any status.
 */
export function applyAdminAction(
  rec: NodeRecord,
  action: AdminAction,
  now: number,
  rules: HealthRules,
  reason?: string,
): AdminResult {
  const set = (status: NodeStatus, why: string, extra: Partial<NodeRecord> = {}): AdminResult => ({
    ok: true,
    changed: true,
    record: { ...rec, ...extra, status, statusReason: why, statusSince: now },
  });
  switch (action) {
    case "approve":
      if (rec.status !== "pending") {
        return rec.approved
          ? { ok: true, record: rec, changed: false }
          : { ok: true, changed: true, record: { ...rec, approved: true } };
      }
      return settle(set("healthy", reason ?? "approved", { approved: true }), now, rules);
    case "drain":
      if (rec.status === "draining") return { ok: true, record: rec, changed: false };
      if (rec.status === "pending")
        return { ok: false, error: `node ${rec.id} is pending approval; nothing to drain` };
      return set("draining", reason ?? "drained by an admin");
    case "resume":
      if (rec.status === "pending")
        return { ok: false, error: `node ${rec.id} is pending: approve it instead` };
      if (rec.status !== "draining") return { ok: true, record: rec, changed: false };
      return settle(set("healthy", reason ?? "resumed"), now, rules);
  }
}

/**
 * A node leaving an admin status takes whatever its heartbeat age says. The record alone tells
 * (any replica serves the API): a pending or draining node's record keeps every heartbeat's time
 * (heartbeatWrite).
 */
function settle(r: AdminResult, now: number, rules: HealthRules): AdminResult {
  if (!r.ok) return r;
  const due = statusBySilence(now - r.record.lastHeartbeatAt, rules);
  if (due.status === "healthy") return r;
  return { ...r, record: { ...r.record, status: due.status, statusReason: due.reason } };
}
