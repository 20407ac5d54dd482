import { describe, expect, it } from "vitest";
import {
  abortRollout,
  createRollout,
  decideRollout,
  dismissRollout,
  NO_POLICY,
  pauseRollout,
  planRollout,
  promoteRollout,
  resumeRollout,
  type PlanFacts,
  type RolloutPass,
  type RolloutPolicy,
} from "../../src/controller/decide/rollout.js";
import {
  DEFAULT_STRATEGY,
  parseSelector,
  parseWindow,
  parseStrategy,
  Rollout as RolloutSchema,
  RolloutNode as RolloutNodeSchema,
  type Inventory,
  type NodeRecord,
  type NodeStatus,
  type OpRecord,
  type Rollout,
  type RolloutNode,
  type Strategy,
  type StrategyInput,
} from "../../src/protocol/index.js";
import { catalogOf, entry, installed, inventory, mapOf, node, op, T0 } from "./facts.js";

const catalog = catalogOf(
  entry("llama-cpp", { capabilities: { default: "cpu-llama-cpp", "nvidia-cuda-12": "cuda12-llama-cpp" } }),
  entry("cpu-llama-cpp", { uri: "reg.test/llama:cpu", version: "2.0.0" }),
  entry("cuda12-llama-cpp", { uri: "reg.test/llama:cuda12", version: "2.0.0" }),
);

/** A node with llama-cpp 1.0.0 installed through its meta, on generation g-<id>. */
function llamaInventory(id: string, capability = "default", version = "1.0.0"): Inventory {
  const concrete = capability === "nvidia-cuda-12" ? "cuda12-llama-cpp" : "cpu-llama-cpp";
  return inventory(id, [
    installed("llama-cpp", { meta_backend_for: concrete }),
    installed(
      concrete,
      { version, digest: `sha256:${"1".repeat(64)}` },
      { generation: `g-${id}`, previousGenerations: ["g0"] },
    ),
  ]);
}

function fleetFacts(
  n: number,
  over: {
    status?: Record<string, NodeStatus>;
    labels?: Record<string, Record<string, string>>;
    policy?: RolloutPolicy;
  } = {},
): PlanFacts & {
  nodes: Map<string, NodeRecord>;
  inventories: Map<string, Inventory>;
  ops: Map<string, OpRecord>;
} {
  const ids = Array.from({ length: n }, (_, i) => `n${String(i + 1).padStart(2, "0")}`);
  return {
    nodes: mapOf(
      ...ids.map((id) => {
        const rec = node(id, over.status?.[id] ?? "healthy");
        return { ...rec, last: { ...rec.last, labels: over.labels?.[id] ?? {} } };
      }),
    ),
    inventories: mapOf(...ids.map((id) => llamaInventory(id))),
    ops: new Map(),
    policy: over.policy ?? NO_POLICY,
    devSuffix: "development",
    catalog,
  };
}

function strategy(input: StrategyInput = {}): Strategy {
  const s = parseStrategy({ soak: 0, ...input });
  if (!s.ok) throw new Error(s.error);
  return s.strategy;
}

type Facts = ReturnType<typeof fleetFacts>;

/** A rollout of llama-cpp over the fleet, as created (state planned). */
function start(f: Facts, input: StrategyInput = {}, now = T0) {
  const p = planRollout({ backend: "llama-cpp", strategy: strategy(input) }, f);
  if (!p.ok) throw new Error(p.error);
  return createRollout(p.plan, "ro-test-0001", "alice", now);
}

/** The world the decision runs in, with the duty's and agents' side of a pass applied. */
class World {
  rollout: Rollout;
  rows: RolloutNode[];
  admitted: string[] = [];
  now: number;
  constructor(
    readonly f: Facts,
    created: { rollout: Rollout; rows: RolloutNode[] },
    now = T0,
  ) {
    this.rollout = created.rollout;
    this.rows = created.rows;
    this.now = now;
  }

  pass(dt = 0): RolloutPass {
    this.now += dt;
    const p = decideRollout(this.rollout, this.rows, this.f, this.now, "leader");
    if (p.rollout) this.rollout = RolloutSchema.parse(p.rollout);
    for (const row of p.rows) {
      RolloutNodeSchema.parse(row);
      this.rows = this.rows.map((x) => (x.i === row.i ? row : x));
    }
    for (const a of p.admit) {
      this.admitted.push(a.nodeId);
      this.f.ops.set(
        a.opId,
        op(a.opId, a.nodeId, a.backend, { kind: "upgrade", target: a.target, state: "queued" }),
      );
    }
    for (const rv of p.revert) {
      this.f.ops.set(rv.opId, op(rv.opId, rv.nodeId, rv.backend, { kind: "rollback", state: "queued" }));
    }
    for (const c of p.cancel) this.finish(c.opId, "cancelled");
    return p;
  }

  /** An agent ends an op (a succeeded upgrade lands the new version in the inventory). */
  finish(opId: string, state: "succeeded" | "failed" | "cancelled", error?: string): void {
    const o = this.f.ops.get(opId)!;
    this.f.ops.set(opId, { ...o, state, error, finishedAt: this.now });
    if (state === "succeeded" && o.kind === "upgrade") {
      const cap = this.f.nodes.get(o.nodeId)!.last.capability;
      this.f.inventories.set(o.nodeId, llamaInventory(o.nodeId, cap, "2.0.0"));
    }
  }

  /** Every active op of this rollout ends `state`. */
  finishAll(state: "succeeded" | "failed" = "succeeded"): void {
    for (const o of this.f.ops.values())
      if (o.state === "queued" || o.state === "running") this.finish(o.id, state);
  }

  outcome(): Record<string, string> {
    return Object.fromEntries(this.rows.map((r) => [r.node, r.o]));
  }
  active(): number {
    return [...this.f.ops.values()].filter((o) => o.state === "queued" || o.state === "running").length;
  }
}

describe("decideRollout: waves, parallelism and the gate", () => {
  it("starts a planned rollout with the canary only", () => {
    const w = new World(fleetFacts(6), start(fleetFacts(6), { waves: "1,50%,100%" }));
    const p = w.pass();
    expect(w.rollout).toMatchObject({ state: "running", wave: 0, waves: [1, 3, 6] });
    expect(p.admit.map((a) => [a.nodeId, a.opId, a.target.name, a.target.version])).toEqual([
      ["n01", "ro-test-0001-0", "cpu-llama-cpp", "2.0.0"],
    ]);
    expect(p.events.map((e) => e.kind)).toEqual(["rollout.started", "rollout.wave"]);
    // From-generation, version and digest recorded at admission.
    expect(w.rows[0]).toMatchObject({ o: "run", gen: "g-n01", fromVersion: "1.0.0" });
  });

  it("moves waves in order: no node of wave 2 before wave 1 passed its gate", () => {
    const f = fleetFacts(6);
    const w = new World(f, start(f, { waves: "1,50%,100%", maxParallel: "100%" }));
    w.pass();
    expect(w.pass().admit).toEqual([]); // canary still running
    w.finishAll();
    const p2 = w.pass();
    expect(p2.events.map((e) => e.kind)).toEqual(["rollout.gate.passed", "rollout.wave"]);
    expect(p2.admit.map((a) => a.nodeId)).toEqual(["n02", "n03"]);
    w.finishAll();
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n04", "n05", "n06"]);
    w.finishAll();
    const end = w.pass();
    expect(w.rollout).toMatchObject({ state: "succeeded", reason: "6 nodes upgraded" });
    expect(end.events.map((e) => e.kind)).toEqual(["rollout.gate.passed", "rollout.ended"]);
    expect(w.admitted).toEqual(["n01", "n02", "n03", "n04", "n05", "n06"]);
    expect(decideRollout(w.rollout, w.rows, f, w.now + 1)).toMatchObject({ rollout: null, admit: [] });
  });

  it("never has more than maxParallel ops active, refilling slots as ops finish", () => {
    const f = fleetFacts(10);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "3" }));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n01", "n02", "n03"]);
    expect(w.pass().admit).toEqual([]);
    w.finish("ro-test-0001-1", "succeeded");
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n04"]);
    expect(w.active()).toBe(3);
  });

  it("holds the next wave for the soak, and fails a node that goes unhealthy during it", () => {
    const f = fleetFacts(4);
    const w = new World(f, start(f, { waves: "1,100%", soak: "60s" }));
    w.pass();
    w.finishAll();
    expect(w.pass(1000).admit).toEqual([]);
    expect(w.rollout.soakStartedAt).toBe(T0 + 1000);
    expect(w.pass(30_000).admit).toEqual([]);
    f.nodes.set("n01", node("n01", "offline"));
    const p = w.pass(1000);
    expect(w.rows[0]).toMatchObject({ o: "fail", why: "offline during the soak after its upgrade" });
    expect(w.rollout).toMatchObject({ state: "paused" });
    expect(w.rollout.reason).toMatch(/failure budget exceeded in wave 1: 1 node failed \(budget 0\): n01/);
    expect(p.admit).toEqual([]);
  });

  it("passes the gate once the soak held", () => {
    const f = fleetFacts(4);
    const w = new World(f, start(f, { waves: "1,100%", soak: "60s", maxParallel: "100%" }));
    w.pass();
    w.finishAll();
    w.pass(1000);
    expect(w.pass(59_999).admit).toEqual([]);
    expect(w.pass(1).admit.map((a) => a.nodeId)).toEqual(["n02", "n03", "n04"]);
  });

  it("stops at the canary when its build fails: every other node keeps the old version", () => {
    const f = fleetFacts(5);
    const w = new World(f, start(f, { waves: "1,50%,100%" }));
    w.pass();
    w.finishAll("failed");
    const p = w.pass();
    expect(p.events.map((e) => e.kind)).toEqual(["rollout.gate.failed", "rollout.paused"]);
    expect(w.rollout).toMatchObject({ state: "paused", wave: 0 });
    expect(w.rollout.pauses).toHaveLength(1);
    expect(w.outcome()).toEqual({ n01: "fail", n02: "wait", n03: "wait", n04: "wait", n05: "wait" });
    expect(w.pass(3600_000).admit).toEqual([]);
    expect(f.inventories.get("n02")!.backends[1]!.metadata.version).toBe("1.0.0");
  });

  it("tolerates failures within the budget after the first wave", () => {
    const f = fleetFacts(20);
    const w = new World(f, start(f, { waves: "1,100%", maxParallel: "100%" }));
    w.pass();
    w.finishAll();
    w.pass(); // wave 2: 19 nodes, budget 10% of 20 = 2
    w.finish("ro-test-0001-1", "failed", "boom");
    w.finish("ro-test-0001-2", "failed", "boom");
    w.finishAll();
    w.pass();
    expect(w.rollout).toMatchObject({ state: "succeeded", reason: "18 nodes upgraded, 2 failed" });
  });

  it("aborts and reverts by itself when autoRevert is on and the budget is exceeded", () => {
    const f = fleetFacts(10);
    const w = new World(f, start(f, { waves: "1,50%,100%", autoRevert: true, maxParallel: "100%" }));
    w.pass();
    w.finishAll();
    w.pass(); // wave 2: n02..n05, budget 1
    w.finish("ro-test-0001-1", "failed");
    w.finish("ro-test-0001-2", "failed");
    w.finish("ro-test-0001-3", "succeeded");
    const p = w.pass();
    expect(p.events.map((e) => e.kind)).toEqual(["rollout.gate.failed", "rollout.aborted"]);
    expect(w.rollout.state).toBe("aborting");
    expect(p.cancel.map((c) => c.opId)).toEqual(["ro-test-0001-4"]);
    expect(p.revert.map((r) => [r.nodeId, r.opId, r.backend])).toEqual([
      ["n01", "ro-test-0001-r0", "cpu-llama-cpp"],
      ["n04", "ro-test-0001-r3", "cpu-llama-cpp"],
    ]);
  });

  it("pauses after each wave without autoPromote, and promote starts the next wave at once", () => {
    const f = fleetFacts(4);
    const w = new World(
      f,
      start(f, { waves: "1,100%", autoPromote: false, soak: "1h", maxParallel: "100%" }),
    );
    w.pass();
    w.finishAll();
    expect(w.pass().admit).toEqual([]);
    expect(w.rollout.state).toBe("running"); // soaking
    w.pass(3600_000);
    expect(w.rollout).toMatchObject({
      state: "paused",
      reason: "wave 1 passed its gate; promote to start wave 2",
    });
    const step = promoteRollout(w.rollout, w.rows, "bob", w.now);
    expect(step.kind).toBe("write");
    if (step.kind === "write") w.rollout = step.rollout;
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n02", "n03", "n04"]);
    expect(w.rollout.actions.map((a) => a.what)).toEqual([
      "created",
      "started",
      "gate",
      "paused",
      "promoted",
      "gate",
      "wave",
    ]);
  });

  it("promote skips the soak of a running wave", () => {
    const f = fleetFacts(3);
    const w = new World(f, start(f, { waves: "1,100%", soak: "1h" }));
    w.pass();
    w.finishAll();
    w.pass();
    const step = promoteRollout(w.rollout, w.rows, "bob", w.now);
    if (step.kind === "write") w.rollout = step.rollout;
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n02"]);
  });
});

describe("decideRollout: pause, resume, abort", () => {
  it("pause holds admissions while ops in flight finish; resume continues", () => {
    const f = fleetFacts(6);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "2" }));
    w.pass();
    const paused = pauseRollout(w.rollout, "bob", w.now, "lunch");
    expect(paused.kind).toBe("write");
    if (paused.kind === "write") w.rollout = paused.rollout;
    w.finishAll();
    expect(w.pass().admit).toEqual([]);
    expect(w.outcome()).toMatchObject({ n01: "ok", n02: "ok", n03: "wait" });
    expect(w.rollout).toMatchObject({ state: "paused", reason: "lunch" });
    const resumed = resumeRollout(w.rollout, w.rows, "bob", w.now);
    if (resumed.kind === "write") w.rollout = resumed.rollout;
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n03", "n04"]);
  });

  it("resume after a failure pause accepts the failures so far", () => {
    const f = fleetFacts(4);
    const w = new World(f, start(f, { waves: "1,100%", maxParallel: "100%" }));
    w.pass();
    w.finishAll("failed");
    w.pass();
    expect(w.rollout.state).toBe("paused");
    const resumed = resumeRollout(w.rollout, w.rows, "bob", w.now);
    if (resumed.kind === "write") w.rollout = resumed.rollout;
    expect(w.rollout.forgiven).toBe(1);
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n02", "n03", "n04"]);
  });

  it("abort after wave 2 cancels what runs and reverts every moved node to its previous generation", () => {
    const f = fleetFacts(6);
    const w = new World(f, start(f, { waves: "1,50%,100%", maxParallel: "100%" }));
    w.pass();
    w.finishAll();
    w.pass();
    w.finishAll();
    w.pass(); // wave 3 admitted: n04..n06
    w.finish("ro-test-0001-3", "succeeded");
    const step = abortRollout(w.rollout, "bob", w.now);
    expect(step.kind).toBe("write");
    if (step.kind === "write") w.rollout = step.rollout;
    const p = w.pass();
    expect(p.cancel.map((c) => c.nodeId)).toEqual(["n05", "n06"]);
    expect(p.revert.map((r) => r.nodeId)).toEqual(["n01", "n02", "n03", "n04"]);
    expect(w.rollout.state).toBe("aborting");
    // A second pass does not revert twice.
    expect(w.pass().revert).toEqual([]);
    w.finish("ro-test-0001-r0", "succeeded");
    w.finish("ro-test-0001-r1", "succeeded");
    w.finish("ro-test-0001-r2", "succeeded");
    w.finish("ro-test-0001-r3", "failed", "disk full");
    const end = w.pass();
    expect(w.rollout.state).toBe("aborted");
    expect(w.rollout.reason).toBe("aborted by bob; 3 nodes reverted; revert failed on n04");
    expect(end.events.filter((e) => e.kind === "rollout.node.reverted")).toHaveLength(3);
    expect(w.outcome()).toEqual({
      n01: "reverted",
      n02: "reverted",
      n03: "reverted",
      n04: "revert-fail",
      n05: "cancel",
      n06: "cancel",
    });
  });

  it("refuses actions that do not apply, with the reason", () => {
    const f = fleetFacts(2);
    const { rollout, rows } = start(f, { waves: "100%" });
    expect(resumeRollout(rollout, rows, "bob", T0)).toMatchObject({
      kind: "refuse",
      why: /only a paused rollout/,
    });
    expect(promoteRollout({ ...rollout, state: "running" }, rows, "bob", T0)).toMatchObject({
      kind: "refuse",
      why: /last wave/,
    });
    expect(dismissRollout(rollout, "bob", T0)).toMatchObject({
      kind: "refuse",
      why: /only an ended rollout/,
    });
    expect(abortRollout({ ...rollout, state: "succeeded" }, "bob", T0)).toMatchObject({ kind: "refuse" });
    expect(pauseRollout({ ...rollout, state: "aborting" }, "bob", T0)).toMatchObject({ kind: "refuse" });
    expect(dismissRollout({ ...rollout, state: "aborted" }, "bob", T0)).toMatchObject({
      kind: "write",
      rollout: { dismissed: true },
    });
  });
});

describe("decideRollout: nodes at their turn, and a leader taking over", () => {
  it.each<[string, (f: Facts) => void, string, RegExp]>([
    ["offline", (f) => f.nodes.set("n02", node("n02", "offline")), "offline", /offline/],
    ["draining", (f) => f.nodes.set("n02", node("n02", "draining")), "draining", /draining/],
    [
      "held",
      (f) => (f.policy = { holds: [{ nodeId: "n02", reason: "benchmarks" }], pins: [] }),
      "held",
      /held for every backend: benchmarks/,
    ],
    [
      "already current",
      (f) => f.inventories.set("n02", llamaInventory("n02", "default", "2.0.0")),
      "current",
      /already live/,
    ],
  ])("skips a node %s when its turn comes, using no slot", (_name, change, skip, why) => {
    const f = fleetFacts(3);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "1" }));
    change(f);
    w.pass();
    w.finishAll();
    const p = w.pass();
    expect(w.rows[1]).toMatchObject({ o: "skip", skip });
    expect(w.rows[1]!.why).toMatch(why);
    expect(p.admit.map((a) => a.nodeId)).toEqual(["n03"]);
  });

  it("waits for an unhealthy node (missed heartbeats) instead of skipping it", () => {
    const f = fleetFacts(3);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "100%" }));
    f.nodes.set("n02", node("n02", "unhealthy"));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n01", "n03"]);
    expect(w.rows[1]!.o).toBe("wait");
    f.nodes.set("n02", node("n02", "healthy"));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n02"]);
  });

  it("lets another op on the same backend finish first", () => {
    const f = fleetFacts(2);
    f.ops.set("op-other", op("op-other", "n01", "llama-cpp", { kind: "reinstall", state: "running" }));
    const w = new World(f, start(f, { waves: "100%", maxParallel: "100%" }));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n02"]);
    expect(w.rows[0]!.o).toBe("wait");
    w.finish("op-other", "succeeded");
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n01"]);
  });

  it("adopts an op its predecessor admitted but did not record, instead of admitting it again", () => {
    const f = fleetFacts(3);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "2" }));
    w.pass();
    // The old leader wrote the ops, then died before the rows: the new one sees rows still waiting.
    const stale = start(f, { waves: "100%", maxParallel: "2" });
    const again = decideRollout({ ...stale.rollout, state: "running" }, stale.rows, f, w.now + 1);
    expect(again.admit).toEqual([]);
    expect(again.rows.map((r) => [r.node, r.o])).toEqual([
      ["n01", "run"],
      ["n02", "run"],
    ]);
  });

  it("keeps long op errors and reasons within the records' limits", () => {
    const f = fleetFacts(2);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "100%", autoRevert: true }));
    w.pass();
    w.finish("ro-test-0001-0", "failed", "x".repeat(4000));
    w.pass();
    expect(w.rows[0]!.why!.length).toBeLessThanOrEqual(1024);
    expect(w.rollout.state).toBe("aborting");
  });

  it("fails a row whose op record never appears", () => {
    const f = fleetFacts(2);
    const w = new World(f, start(f, { waves: "100%", maxParallel: "1" }));
    w.pass();
    f.ops.clear();
    w.pass(60_000);
    expect(w.rows[0]!.o).toBe("run");
    w.pass(5 * 60_000);
    expect(w.rows[0]).toMatchObject({ o: "fail", why: "its op record is gone" });
  });

  it("ends at once with nobody to upgrade", () => {
    const f = fleetFacts(2, { status: { n01: "offline", n02: "offline" } });
    const w = new World(f, start(f));
    w.pass();
    expect(w.rollout).toMatchObject({
      state: "succeeded",
      reason: "no node to upgrade",
      eligible: 0,
      total: 2,
    });
  });
});

describe("decideRollout: the maintenance window", () => {
  const win = (src: string) => {
    const p = parseWindow(src);
    if (!p.ok) throw new Error(p.error);
    return p.window;
  };
  // T0 is 2027-01-15T08:00:00Z, a Friday.
  const sat = win("Sat 02:00-05:00 UTC");
  const autoStart = (f: Facts) => {
    const p = planRollout({ backend: "llama-cpp", strategy: strategy({ waves: "1,100%" }) }, f);
    if (!p.ok) throw new Error(p.error);
    return createRollout(p.plan, "ro-test-0001", "auto-upgrade", T0, "auto-upgrade");
  };

  it("an auto-upgrade rollout admits nothing outside the window, says until when, and goes on inside it", () => {
    expect(new Date(T0).toISOString()).toBe("2027-01-15T08:00:00.000Z");
    const f = { ...fleetFacts(3), window: sat };
    const w = new World(f, autoStart(f));
    expect(w.rollout.origin).toBe("auto-upgrade");
    const p = w.pass();
    expect(p.admit).toEqual([]);
    expect(w.rollout).toMatchObject({
      state: "running",
      reason: "outside maintenance window until Sat 02:00 UTC",
      windowOpensAt: Date.parse("2027-01-16T02:00:00Z"),
    });
    // Waiting is not a change: no write per pass.
    expect(w.pass(60_000).rollout).toBeNull();
    const opens = Date.parse("2027-01-16T02:00:00Z");
    const inside = w.pass(opens - w.now);
    expect(inside.admit.map((a) => a.nodeId)).toEqual(["n01"]);
    expect(w.rollout.reason).toBeUndefined();
    expect(w.rollout.windowOpensAt).toBeUndefined();
    // The window closes with the canary in flight: it finishes, the gate passes, the next wave waits.
    w.now = Date.parse("2027-01-16T05:00:00Z");
    w.finishAll();
    const closed = w.pass();
    expect(closed.events.map((e) => e.kind)).toEqual(["rollout.gate.passed", "rollout.wave"]);
    expect(closed.admit).toEqual([]);
    expect(w.rollout).toMatchObject({ wave: 1, reason: "outside maintenance window until Sat 02:00 UTC" });
    expect(w.rollout.windowOpensAt).toBe(Date.parse("2027-01-23T02:00:00Z"));
  });

  it("an operator's rollout ignores the window", () => {
    const f = { ...fleetFacts(3), window: sat };
    const w = new World(f, start(f, { waves: "1,100%" }));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n01"]);
    expect(w.rollout.reason).toBeUndefined();
  });

  it("a window that does not parse admits nothing, and says why", () => {
    const f = { ...fleetFacts(2), window: { error: 'maintenance window "x" does not parse' } };
    const w = new World(f, autoStart(f));
    expect(w.pass().admit).toEqual([]);
    expect(w.rollout.reason).toBe('outside maintenance window: maintenance window "x" does not parse');
  });

  it("no window: an auto-upgrade rollout admits at once", () => {
    const f = fleetFacts(2);
    const w = new World(f, autoStart(f));
    expect(w.pass().admit.map((a) => a.nodeId)).toEqual(["n01"]);
  });
});

describe("planRollout", () => {
  it("says per wave who goes from what to what, and who is skipped and why", () => {
    const f = fleetFacts(10, {
      status: { n08: "offline", n09: "pending", n10: "draining" },
      policy: {
        holds: [{ nodeId: "n07", backend: "llama-cpp", reason: "customer demo" }],
        pins: [{ backend: "llama-cpp", version: "1.0.0", selector: selector("pool=frozen") }],
      },
      labels: { n06: { pool: "frozen" } },
    });
    f.nodes.set("n05", node("n05", "healthy", { capability: "nvidia-cuda-12" }));
    f.inventories.set("n05", llamaInventory("n05", "nvidia-cuda-12"));
    f.inventories.set("n04", llamaInventory("n04", "default", "2.0.0"));
    f.inventories.get("n03")!.backends.push(installed("llama-cpp-development", {}, { generation: "gd" }));
    f.inventories.set("n02", inventory("n02", [installed("llama-cpp", {}, { generation: "legacy" })]));
    f.nodes.set("n11", node("n11"));
    f.inventories.set("n11", inventory("n11", []));
    const p = planRollout(
      { backend: "llama-cpp", nodes: [...f.nodes.keys()], strategy: strategy({ waves: "1,50%,100%" }) },
      f,
    );
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n01"], ["n05"]]);
    expect(p.plan.waves[1]![0]).toEqual({
      nodeId: "n05",
      concrete: "cuda12-llama-cpp",
      from: { version: "1.0.0", digest: `sha256:${"1".repeat(64)}`, generation: "g-n05" },
      to: { version: "2.0.0", digest: undefined },
    });
    expect(p.plan.skipped.map((s) => [s.nodeId, s.skip])).toEqual([
      ["n02", "no-build"],
      ["n03", "dev-twin"],
      ["n04", "current"],
      ["n06", "pinned"],
      ["n07", "held"],
      ["n08", "offline"],
      ["n09", "pending"],
      ["n10", "draining"],
      ["n11", "not-installed"],
    ]);
    expect(p.plan.skipped.find((s) => s.nodeId === "n06")!.why).toBe("llama-cpp is pinned to 1.0.0 on n06");
    expect(p.plan.skipped.find((s) => s.nodeId === "n07")!.why).toBe(
      "node n07 is held for llama-cpp: customer demo",
    );
    expect(Object.keys(p.plan.builds).sort()).toEqual(["cpu-llama-cpp", "cuda12-llama-cpp"]);
    expect(p.plan.byCapability).toEqual({ default: "cpu-llama-cpp", "nvidia-cuda-12": "cuda12-llama-cpp" });
    expect(p.plan.galleryVersion).toBe("2.0.0");

    const { rollout, rows } = createRollout(p.plan, "ro-test-0001", "alice", T0);
    expect(rollout).toMatchObject({
      total: 11,
      eligible: 2,
      waves: [1, 2],
      state: "planned",
      targeting: { kind: "nodes" },
    });
    expect(rows.filter((r) => r.w === -1).map((r) => r.skip)).toHaveLength(9);
    expect(() => RolloutSchema.parse(rollout)).not.toThrow();
  });

  it("targets by label selector, and says when nothing matches", () => {
    const f = fleetFacts(4, {
      labels: { n01: { gpu: "h100" }, n03: { gpu: "h100", zone: "eu" }, n04: { gpu: "a100" } },
    });
    const p = planRollout(
      { backend: "llama-cpp", selector: selector("gpu=h100,zone!=eu"), strategy: DEFAULT_STRATEGY },
      f,
    );
    expect(p.ok && p.plan.waves.flat().map((m) => m.nodeId)).toEqual(["n01"]);
    expect(p.ok && p.plan.targeting).toEqual({ kind: "selector", selector: "gpu=h100,zone!=eu" });
    expect(
      planRollout({ backend: "llama-cpp", selector: selector("gpu=t4"), strategy: DEFAULT_STRATEGY }, f),
    ).toMatchObject({
      ok: false,
      code: "not_found",
      error: "no node matches the selector gpu=t4",
    });
    expect(planRollout({ backend: "nope", strategy: DEFAULT_STRATEGY }, f)).toMatchObject({
      ok: false,
      code: "not_found",
    });
  });

  it("pins one build per concrete: a gallery change after creation does not change the target", () => {
    const f = fleetFacts(2);
    const created = start(f, { waves: "100%", maxParallel: "100%" });
    f.catalog = catalogOf(
      entry("llama-cpp", { capabilities: { default: "cpu-llama-cpp" } }),
      entry("cpu-llama-cpp", { uri: "reg.test/llama:cpu", version: "3.0.0" }),
    );
    const w = new World(f, created);
    expect(w.pass().admit.map((a) => a.target.version)).toEqual(["2.0.0", "2.0.0"]);
  });
});

function selector(s: string) {
  const r = parseSelector(s);
  if (!r.ok) throw new Error(r.error);
  return r.selector;
}

// ---------------------------------------------------------------- property test

/** A small seeded generator (mulberry32), so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("decideRollout, over random fleets and outcomes", () => {
  const WAVES = ["1,10%,50%,100%", "1,50%,100%", "100%", "2,5,100%", "1,25%"];
  it.each(Array.from({ length: 150 }, (_, i) => i + 1))("seed %i", (seed) => {
    const rand = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const n = 1 + Math.floor(rand() * 30);
    const statuses: NodeStatus[] = [
      "healthy",
      "healthy",
      "healthy",
      "healthy",
      "offline",
      "draining",
      "unhealthy",
    ];
    const status = Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`n${String(i + 1).padStart(2, "0")}`, pick(statuses)]),
    );
    const f = fleetFacts(n, { status });
    const input: StrategyInput = {
      waves: pick(WAVES),
      maxParallel: pick(["1", "2", "10%", "50%", "100%"]),
      soak: pick([0, 0, 10_000]),
      maxFailures: pick([undefined, "0", "1", "20%"]),
      autoPromote: rand() < 0.8,
      autoRevert: rand() < 0.3,
    };
    const w = new World(f, start(f, input));
    const cap = Math.max(
      1,
      Math.ceil(
        Number.parseFloat(input.maxParallel!) *
          (input.maxParallel!.endsWith("%") ? w.rollout.eligible / 100 : 1) -
          1e-9,
      ),
    );
    const admittedOnce = new Set<string>();
    const failP = rand() * 0.3;

    for (let step = 0; step < 400 && !["succeeded", "aborted", "failed"].includes(w.rollout.state); step++) {
      const before = w.rollout;
      const rowsBefore = new Map(w.rows.map((r) => [r.i, r]));
      const p = w.pass(pick([0, 1000, 5000]));

      // Never a node twice.
      for (const a of p.admit) {
        expect(admittedOnce.has(a.opId), `admitted ${a.opId} twice`).toBe(false);
        admittedOnce.add(a.opId);
        const row = w.rows.find((r) => r.node === a.nodeId)!;
        // Only nodes of the current wave, never past it.
        expect(row.w).toBe(w.rollout.wave);
        expect(rowsBefore.get(row.i)!.o).toBe("wait");
      }
      // Never more than maxParallel active.
      const upgrades = [...f.ops.values()].filter(
        (o) => o.kind === "upgrade" && (o.state === "queued" || o.state === "running"),
      );
      expect(upgrades.length).toBeLessThanOrEqual(cap);
      // Never past a failed gate: a wave only advances when the one before finished within budget.
      if (w.rollout.wave > before.wave) {
        expect(w.rollout.wave).toBe(before.wave + 1);
        const prev = w.rows.filter((r) => r.w === before.wave);
        expect(prev.every((r) => ["ok", "fail", "cancel", "skip"].includes(r.o))).toBe(true);
        const failed = w.rows.filter((r) => r.o === "fail" || r.o === "cancel").length - w.rollout.forgiven;
        const budget = input.maxFailures
          ? Math.ceil(
              Number.parseFloat(input.maxFailures) *
                (input.maxFailures.endsWith("%") ? w.rollout.eligible / 100 : 1) -
                1e-9,
            )
          : before.wave === 0
            ? 0
            : Math.ceil(w.rollout.eligible / 10 - 1e-9);
        expect(failed).toBeLessThanOrEqual(budget);
      }
      // Nodes of later waves are untouched.
      for (const r of w.rows) if (r.w > w.rollout.wave) expect(r.o).toBe("wait");

      // Agents: some ops progress, some fail; nodes flap; the operator acts now and then.
      for (const o of [...f.ops.values()]) {
        if (o.state !== "queued" && o.state !== "running") continue;
        const x = rand();
        if (x < 0.4) w.finish(o.id, rand() < failP ? "failed" : "succeeded");
      }
      if (rand() < 0.05) {
        const id = pick([...f.nodes.keys()]);
        f.nodes.set(id, { ...f.nodes.get(id)!, status: pick(statuses) });
      }
      const y = rand();
      const act =
        y < 0.03
          ? pauseRollout(w.rollout, "op", w.now)
          : y < 0.1
            ? resumeRollout(w.rollout, w.rows, "op", w.now)
            : y < 0.12
              ? promoteRollout(w.rollout, w.rows, "op", w.now)
              : y < 0.13
                ? abortRollout(w.rollout, "op", w.now)
                : null;
      if (act?.kind === "write") w.rollout = act.rollout;
    }
    if (w.rollout.state === "aborted") {
      // Every node the rollout moved was reverted (or named as failing to).
      expect(w.rows.filter((r) => r.o === "ok")).toEqual([]);
    }
  });
});
