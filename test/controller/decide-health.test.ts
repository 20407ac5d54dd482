import { describe, expect, it } from "vitest";
import {
  applyAdminAction,
  applyHeartbeat,
  healthTick,
  heartbeatWrite,
  recordRefreshMs,
  StallGuard,
  type HealthRules,
} from "../../src/controller/decide/health.js";
import type { Heartbeat, NodeStatus } from "../../src/protocol/index.js";
import { T0, heartbeat, node } from "./facts.js";

const rules: HealthRules = {
  heartbeatIntervalMs: 5_000,
  unhealthyAfterMissed: 3,
  slackMs: 1_000,
  offlineAfterMs: 60_000,
  requireApproval: false,
};

describe("applyHeartbeat", () => {
  it("a first heartbeat creates a healthy record, or a pending one when approval is required", () => {
    const hb = heartbeat("n1", { capability: "nvidia-cuda-12" });
    const open = applyHeartbeat(undefined, hb, T0 + 7, rules);
    expect(open).toMatchObject({
      id: "n1",
      status: "healthy",
      approved: true,
      firstSeenAt: T0 + 7,
      lastHeartbeatAt: T0 + 7,
    });
    expect(open.last.capability).toBe("nvidia-cuda-12");
    const gated = applyHeartbeat(undefined, hb, T0, { ...rules, requireApproval: true });
    expect(gated).toMatchObject({
      status: "pending",
      approved: false,
      statusReason: "first seen; awaiting approval",
    });
  });

  const table: Array<[NodeStatus, NodeStatus]> = [
    ["healthy", "healthy"],
    ["unhealthy", "healthy"],
    ["offline", "healthy"],
    ["pending", "pending"],
    ["draining", "draining"],
  ];
  for (const [from, to] of table) {
    it(`a fresh heartbeat takes ${from} to ${to}`, () => {
      const prev = node("n1", from, { lastHeartbeatAt: T0 - 90_000 });
      const next = applyHeartbeat(prev, heartbeat("n1", { runningOps: 2 }), T0, rules);
      expect(next.status).toBe(to);
      expect(next.lastHeartbeatAt).toBe(T0);
      expect(next.last.runningOps).toBe(2);
      expect(next.statusSince).toBe(from === to ? prev.statusSince : T0);
    });
  }

  it("uses the controller's clock and never moves lastHeartbeatAt backwards", () => {
    const prev = node("n1", "healthy", { lastHeartbeatAt: T0 + 500 });
    expect(applyHeartbeat(prev, heartbeat("n1", { sentAt: 1 }), T0, rules).lastHeartbeatAt).toBe(T0 + 500);
  });
});

describe("heartbeatWrite: a heartbeat is written only when it tells the record something", () => {
  const GiB = 2 ** 30;
  const base = heartbeat("n1");
  const table: Array<{
    why: string;
    status?: NodeStatus;
    /** Age of the stored heartbeat time when this one is heard. */
    age?: number;
    hb?: Partial<Heartbeat>;
    written: boolean;
  }> = [
    { why: "the same heartbeat, record 5 s old", written: false },
    { why: "only sentAt differs", hb: { sentAt: T0 + 25_000 }, written: false },
    { why: "record 29.9 s old", age: 29_999, written: false },
    { why: "record 30 s old: the refresh", age: 30_000, written: true },
    { why: "a label added", hb: { labels: { rack: "r2" } }, written: true },
    { why: "capability", hb: { capability: "nvidia-cuda-12" }, written: true },
    { why: "gpu model", hb: { gpu: { vendor: "none", model: "x", vramBytes: 0 } }, written: true },
    { why: "gpu vram", hb: { gpu: { vendor: "none", vramBytes: 1 } }, written: true },
    { why: "agent version", hb: { agentVersion: "test2" }, written: true },
    { why: "name", hb: { name: "n1.rack2" }, written: true },
    { why: "running ops", hb: { runningOps: 1 }, written: true },
    { why: "disk total", hb: { disk: { freeBytes: 1e12, totalBytes: 3e12 } }, written: true },
    {
      why: "free disk moved less than 1 % of the disk",
      hb: { disk: { freeBytes: 1e12 - 19e9, totalBytes: 2e12 } },
      written: false,
    },
    {
      why: "free disk moved 1 % of the disk",
      hb: { disk: { freeBytes: 1e12 - 20e9, totalBytes: 2e12 } },
      written: true,
    },
    {
      why: "small disk: free moved 1 GiB",
      hb: { disk: { freeBytes: 10 * GiB - GiB, totalBytes: 50 * GiB } },
      written: true,
    },
    { why: "unhealthy: back to healthy at once", status: "unhealthy", written: true },
    { why: "offline: back to healthy at once", status: "offline", written: true },
    { why: "draining: every heartbeat (resume judges its age)", status: "draining", written: true },
    { why: "pending: every heartbeat (approve judges its age)", status: "pending", written: true },
  ];
  for (const c of table) {
    it(`${c.why}: ${c.written ? "written" : "not written"}`, () => {
      const stored = c.why.startsWith("small disk")
        ? { ...base, disk: { freeBytes: 10 * GiB, totalBytes: 50 * GiB } }
        : base;
      const prev = node("n1", c.status ?? "healthy", { lastHeartbeatAt: T0, last: stored });
      const hb = { ...stored, ...c.hb };
      const now = T0 + (c.age ?? 5_000);
      const next = heartbeatWrite(prev, hb, now, rules);
      expect(next !== null).toBe(c.written);
      if (next) expect(next).toEqual(applyHeartbeat(prev, hb, now, rules));
    });
  }

  it("a label's value changing is written; the same labels in another order are not", () => {
    const prev = node("n1", "healthy", { last: heartbeat("n1", { labels: { a: "1", b: "2" } }) });
    const at = T0 + 5_000;
    expect(heartbeatWrite(prev, heartbeat("n1", { labels: { a: "1", b: "3" } }), at, rules)).not.toBeNull();
    expect(heartbeatWrite(prev, heartbeat("n1", { labels: { a: "1" } }), at, rules)).not.toBeNull();
    expect(heartbeatWrite(prev, heartbeat("n1", { labels: { b: "2", a: "1" } }), at, rules)).toBeNull();
  });

  it("a first heartbeat is always written", () => {
    expect(heartbeatWrite(undefined, base, T0, rules)).toMatchObject({
      status: "healthy",
      lastHeartbeatAt: T0,
    });
  });

  it("the refresh is half the offline threshold unless set: a live record is never offline-old", () => {
    expect(recordRefreshMs(rules)).toBe(30_000);
    expect(recordRefreshMs({ offlineAfterMs: 900 })).toBe(450);
    expect(recordRefreshMs({ offlineAfterMs: 60_000, recordRefreshMs: 10_000 })).toBe(10_000);
    // The oldest a live node's stored time gets: just under the refresh, plus one interval.
    expect(recordRefreshMs(rules) + rules.heartbeatIntervalMs).toBeLessThan(rules.offlineAfterMs);
  });
});

describe("healthTick", () => {
  const table: Array<[NodeStatus, number, NodeStatus | null]> = [
    ["healthy", 5_000, null],
    ["healthy", 15_000, null], // 3 intervals: the third heartbeat may be just late
    ["healthy", 16_000, null], // within slack
    ["healthy", 16_001, "unhealthy"],
    ["healthy", 59_999, "unhealthy"],
    ["healthy", 60_000, "offline"],
    ["unhealthy", 30_000, null],
    ["unhealthy", 60_000, "offline"], // LocalAI left unhealthy nodes there forever
    ["offline", 3_600_000, null],
    ["pending", 3_600_000, null],
    ["draining", 3_600_000, null],
  ];
  for (const [from, silence, to] of table) {
    it(`${from} after ${silence / 1000} s of silence -> ${to ?? "unchanged"}`, () => {
      const r = healthTick(node("n1", from, { lastHeartbeatAt: T0 }), T0 + silence, rules);
      expect(r?.status ?? null).toBe(to);
    });
  }

  it("judges from when the node was heard, not from the record's (refreshed every 30 s) time", () => {
    const rec = node("n1", "healthy", { lastHeartbeatAt: T0 });
    // Stored 29 s ago, heard 2 s ago: fresh.
    expect(healthTick(rec, T0 + 29_000, rules, T0 + 27_000)).toBeNull();
    expect(healthTick(rec, T0 + 29_000, rules)?.status).toBe("unhealthy");
    // Heard long ago but stored later (another writer): the later of the two counts.
    expect(
      healthTick(node("n1", "healthy", { lastHeartbeatAt: T0 + 20_000 }), T0 + 30_000, rules, T0),
    ).toBeNull();
    expect(healthTick(rec, T0 + 61_000, rules, T0 + 1_000)?.status).toBe("offline");
  });

  it("says why", () => {
    expect(healthTick(node("n1", "healthy"), T0 + 20_000, rules)?.reason).toBe("missed 3 heartbeats");
    expect(healthTick(node("n1", "healthy"), T0 + 61_000, rules)?.reason).toBe("no heartbeat for 61 s");
    expect(healthTick(node("n1", "unhealthy"), T0 + 20 * 60_000, rules)?.reason).toBe(
      "no heartbeat for 20 min",
    );
  });
});

describe("applyAdminAction", () => {
  const table: Array<{
    from: NodeStatus;
    action: "approve" | "drain" | "resume";
    silence?: number;
    to?: NodeStatus;
    changed?: boolean;
    error?: RegExp;
  }> = [
    { from: "pending", action: "approve", to: "healthy", changed: true },
    { from: "pending", action: "approve", silence: 20_000, to: "unhealthy", changed: true },
    { from: "pending", action: "approve", silence: 120_000, to: "offline", changed: true },
    { from: "healthy", action: "approve", to: "healthy", changed: false },
    { from: "healthy", action: "drain", to: "draining", changed: true },
    { from: "offline", action: "drain", to: "draining", changed: true },
    { from: "draining", action: "drain", to: "draining", changed: false },
    { from: "pending", action: "drain", error: /pending approval/ },
    { from: "draining", action: "resume", to: "healthy", changed: true },
    { from: "draining", action: "resume", silence: 120_000, to: "offline", changed: true },
    { from: "healthy", action: "resume", to: "healthy", changed: false },
    { from: "pending", action: "resume", error: /approve it instead/ },
  ];
  for (const c of table) {
    it(`${c.action} on ${c.from}${c.silence ? ` (silent ${c.silence / 1000} s)` : ""}`, () => {
      const r = applyAdminAction(node("n1", c.from), c.action, T0 + (c.silence ?? 0), rules, "why");
      if (c.error) {
        expect(r.ok).toBe(false);
        expect(!r.ok && r.error).toMatch(c.error);
        return;
      }
      expect(r.ok && r.record.status).toBe(c.to);
      expect(r.ok && r.changed).toBe(c.changed);
      if (r.ok && c.action === "approve") expect(r.record.approved).toBe(true);
    });
  }
});

describe("StallGuard: silence is judged only on heartbeats the monitor could read", () => {
  const tickMs = 1_000;
  it("a tick on time may judge; a late one (a stall) holds for one heartbeat interval plus slack", () => {
    const g = new StallGuard(tickMs, rules);
    expect(g.observe(T0)).toBeNull();
    expect(g.mayJudge(T0)).toBe(true);
    expect(g.observe(T0 + 1_000)).toBeNull();
    expect(g.observe(T0 + 1_000 + tickMs + rules.heartbeatIntervalMs)).toBeNull(); // late, not stalled
    const back = T0 + 2_000 + tickMs + rules.heartbeatIntervalMs + 75_000; // SIGSTOP 75 s
    expect(g.observe(back)).toEqual({ stalledMs: 75_000 + 1_000 });
    expect(g.mayJudge(back)).toBe(false);
    const until = back + rules.heartbeatIntervalMs + rules.slackMs;
    for (let t = back + tickMs; t < until; t += tickMs) {
      expect(g.observe(t)).toBeNull();
      expect(g.mayJudge(t)).toBe(false);
    }
    expect(g.observe(until)).toBeNull();
    expect(g.mayJudge(until)).toBe(true);
  });

  it("a monitor that has just started (a new leader) holds too", () => {
    const g = new StallGuard(tickMs, rules);
    g.hold(T0);
    expect(g.mayJudge(T0 + rules.heartbeatIntervalMs)).toBe(false);
    expect(g.mayJudge(T0 + rules.heartbeatIntervalMs + rules.slackMs)).toBe(true);
  });

  it("the monitor's decisions after a 75 s stall: no node goes offline on the stall alone", () => {
    const g = new StallGuard(tickMs, rules);
    g.observe(T0);
    const n = node("n1", "healthy", { lastHeartbeatAt: T0 });
    const back = T0 + 75_000;
    g.observe(back);
    // Without the guard the tick would decide offline:
    expect(healthTick(n, back, rules)?.status).toBe("offline");
    expect(g.mayJudge(back)).toBe(false);
    // The heartbeat read meanwhile refreshes the record before any judgement.
    const fresh = applyHeartbeat(n, heartbeat("n1"), back + 10, rules);
    expect(healthTick(fresh, back + rules.heartbeatIntervalMs + rules.slackMs, rules)).toBeNull();
  });
});
