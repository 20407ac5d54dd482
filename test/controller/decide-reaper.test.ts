import { describe, expect, it } from "vitest";
import { planReaping, type ReapRules } from "../../src/controller/decide/reaper.js";
import type { NodeRecord, OpRecord } from "../../src/protocol/index.js";
import { T0, mapOf, node, op } from "./facts.js";

const MIN = 60_000;
const rules: ReapRules = {
  offlineGraceMs: 15 * MIN,
  staleOpMs: 30 * MIN,
  orphanAfterMs: 30_000,
  cancelResendMs: 30_000,
  retentionMs: 24 * 60 * MIN,
};

const nodes = mapOf<NodeRecord>(
  node("ok", "healthy", { lastHeartbeatAt: T0 }),
  node("busy", "healthy", { lastHeartbeatAt: T0, runningOps: 2 }),
  node("drain", "draining", { lastHeartbeatAt: T0 }),
  node("off", "offline", { lastHeartbeatAt: T0 - 20 * MIN }),
  node("blip", "offline", { lastHeartbeatAt: T0 - 5 * MIN }),
  node("sick", "unhealthy", { lastHeartbeatAt: T0 - 16 * MIN }),
);

function run(o: OpRecord, now = T0) {
  return planReaping([{ key: `${o.nodeId}.${o.id}`, op: o }], nodes, now, rules);
}

describe("planReaping", () => {
  const ending: Array<{
    name: string;
    op: OpRecord;
    now?: number;
    state: "failed" | "cancelled";
    reason: RegExp;
  }> = [
    {
      name: "queued for a draining node: at once",
      op: op("a", "drain", "x", { updatedAt: T0 }),
      state: "failed",
      reason: /^node drain is draining; queued work dropped$/,
    },
    {
      name: "queued for an offline node silent past the grace window",
      op: op("b", "off", "x", { updatedAt: T0 }),
      state: "failed",
      reason: /^node off is offline and silent for 20 min; gave up after the 15 min grace window$/,
    },
    {
      name: "queued for an unhealthy node silent past the grace window (LocalAI leaked these)",
      op: op("c", "sick", "x", { updatedAt: T0 }),
      state: "failed",
      reason: /node sick is unhealthy and silent for 16 min/,
    },
    {
      name: "cancelling on a dead node ends cancelled",
      op: op("d", "off", "x", { state: "cancelling", updatedAt: T0 }),
      state: "cancelled",
      reason: /node off is offline/,
    },
    {
      name: "queued for a node nobody knows, past the grace window",
      op: op("e", "ghost", "x", { createdAt: T0 - 16 * MIN, updatedAt: T0 }),
      state: "failed",
      reason: /^node ghost is unknown/,
    },
    {
      name: "running with no update for 30 min: stale",
      op: op("f", "ok", "x", { state: "running", updatedAt: T0 - 31 * MIN }),
      state: "failed",
      reason: /^stale: no update for 31 min$/,
    },
    {
      name: "queued on an idle healthy node with no update for 30 min: stale",
      op: op("g", "ok", "x", { updatedAt: T0 - 31 * MIN }),
      state: "failed",
      reason: /^stale/,
    },
  ];
  for (const c of ending) {
    it(`ends ${c.name}`, () => {
      const r = run(c.op, c.now);
      expect(r.end).toHaveLength(1);
      expect(r.end[0]).toMatchObject({ opId: c.op.id, nodeId: c.op.nodeId, state: c.state });
      expect(r.end[0]!.reason).toMatch(c.reason);
    });
  }

  const keeping: Array<{ name: string; op: OpRecord }> = [
    {
      name: "queued for an offline node within the grace window",
      op: op("h", "blip", "x", { updatedAt: T0 }),
    },
    {
      name: "running on a draining node (it may finish)",
      op: op("i", "drain", "x", { state: "running", updatedAt: T0 }),
    },
    {
      name: "running on an offline node before it is stale",
      op: op("j", "off", "x", { state: "running", updatedAt: T0 - 20 * MIN }),
    },
    {
      name: "queued behind other work on a busy healthy node",
      op: op("k", "busy", "x", { updatedAt: T0 - 40 * MIN }),
    },
    {
      name: "a failed op nobody dismissed, however old",
      op: op("l", "ok", "x", { state: "failed", finishedAt: T0 - 1e10 }),
    },
  ];
  for (const c of keeping) {
    it(`keeps ${c.name}`, () => {
      const r = run(c.op);
      expect(r.end).toEqual([]);
      expect(r.delete).toEqual([]);
    });
  }

  it("queued ops idle past orphanAfterMs are checked for a missing work message", () => {
    expect(run(op("m", "ok", "x", { updatedAt: T0 - 31_000 })).orphanCandidates).toEqual([
      { key: "ok.m", opId: "m", nodeId: "ok" },
    ]);
    expect(run(op("m", "blip", "x", { updatedAt: T0 - 31_000 })).orphanCandidates).toHaveLength(1);
    expect(run(op("n", "ok", "x", { updatedAt: T0 - 1_000 })).orphanCandidates).toEqual([]);
    expect(run(op("o", "ok", "x", { state: "running", updatedAt: T0 - 60_000 })).orphanCandidates).toEqual(
      [],
    );
  });

  it("a cancelling op still active after cancelResendMs gets its signal again", () => {
    expect(run(op("p", "ok", "x", { state: "cancelling", updatedAt: T0 - 31_000 })).resendCancel).toEqual([
      { key: "ok.p", opId: "p", nodeId: "ok" },
    ]);
    expect(run(op("p", "ok", "x", { state: "cancelling", updatedAt: T0 - 1_000 })).resendCancel).toEqual([]);
  });

  it("retention deletes settled records past the window; undismissed failures stay", () => {
    const old = T0 - 25 * 60 * MIN;
    const ops = [
      op("s1", "ok", "x", { state: "succeeded", finishedAt: old }),
      op("s2", "ok", "x", { state: "cancelled", finishedAt: old }),
      op("s3", "ok", "x", { state: "failed", dismissed: true, finishedAt: old }),
      op("s4", "ok", "x", { state: "failed", finishedAt: old }),
      op("s5", "ok", "x", { state: "succeeded", finishedAt: T0 - MIN }),
    ];
    const r = planReaping(
      ops.map((o) => ({ key: `ok.${o.id}`, op: o })),
      nodes,
      T0,
      rules,
    );
    expect(r.delete).toEqual(["ok.s1", "ok.s2", "ok.s3"]);
  });
});
