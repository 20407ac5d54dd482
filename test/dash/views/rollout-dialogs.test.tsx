import { afterEach, describe, expect, it } from "vitest";
import { displayWidth } from "../../../src/format/text.js";
import {
  DEFAULT_STRATEGY,
  type ApiMethod,
  type ApiResult,
  RolloutPlanView,
} from "../../../src/protocol/index.js";
import type { ApiCaller } from "../../../src/store/cluster-feed.js";
import { feed, NOW, op, rollout, rolloutNode, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

type PlanNode = RolloutPlanView["waves"][number][number];
const planned = (nodeId: string, from = "1.0.0"): PlanNode => ({
  nodeId,
  concrete: "cuda12-llama-cpp",
  from: { version: from, generation: "g1" },
  to: { version: "1.1.0" },
});
const skipped = (nodeId: string, skip: RolloutPlanView["skipped"][number]["skip"]) => ({
  nodeId,
  skip,
  why: `${nodeId} is ${skip}`,
});

function plan(o: Partial<RolloutPlanView> = {}): RolloutPlanView {
  return RolloutPlanView.parse({
    backend: "llama-cpp",
    galleryVersion: "1.1.0",
    builds: {},
    byCapability: {},
    targeting: { kind: "installed" },
    strategy: DEFAULT_STRATEGY,
    waves: [[planned("gpu-01")], [planned("gpu-02")]],
    skipped: [
      skipped("cpu-01", "no-build"),
      skipped("gpu-03", "held"),
      skipped("gpu-04", "held"),
      skipped("gpu-05", "offline"),
    ],
    ...o,
  });
}

/**
 * A controller stand-in that records each call with its idempotency key, and answers a method
 * with a value or with a promise the test settles when it wants.
 */
function api(answers: { [M in ApiMethod]?: () => ApiResult<M> | Promise<ApiResult<M>> }) {
  const calls: Array<{ method: ApiMethod; req: unknown; key?: string }> = [];
  const caller: ApiCaller = {
    call(method, req, _timeout, opts) {
      calls.push({ method, req, key: opts?.idempotencyKey });
      const a = answers[method] as (() => unknown) | undefined;
      if (!a) return Promise.reject(new Error(`no controller is serving ${method} in this test`));
      return Promise.resolve(a()) as never;
    },
  };
  return { caller, calls };
}

/** The dialog's box, border to border. */
function box(frame: string): string[] {
  const ls = frame.split("\n");
  return ls.slice(
    ls.findIndex((l) => l.includes("╭")),
    ls.findIndex((l) => l.includes("╰")) + 1,
  );
}

describe("u on a backend everywhere: a rollout, its plan shown first", () => {
  it("shows waves with node counts, from → to and the skipped by reason; y starts it (keyed) and opens it", async () => {
    const started = rollout({ id: "ro-new-0001", state: "planned", wave: 0, eligible: 2, waves: [1, 2] });
    const a = api({
      "rollouts.plan": () => ({ plan: plan() }),
      "rollouts.start": () => ({ rollout: started }),
    });
    const r = renderDash({ api: a.caller, columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Backends [");
    await r.press("g", "u");
    const f = await r.waitForFrame("Roll out llama-cpp 1.0.0 → 1.1.0", "the plan in the dialog");
    expect(a.calls.map((c) => [c.method, c.req])).toEqual([["rollouts.plan", { backend: "llama-cpp" }]]);
    expect(f).toContain("2 of the 3 nodes that have it, in 2 waves:");
    expect(f).toMatch(/wave 1\s+1 node\s+gpu-01/);
    expect(f).toMatch(/wave 2\s+1 node\s+gpu-02/);
    expect(f).toContain("4 nodes skipped:");
    expect(f).toMatch(/held\s+2 nodes\s+gpu-03, gpu-04/);
    expect(f).toMatch(/no-build\s+1 node\s+cpu-01/);
    expect(f).toMatch(/offline\s+1 node\s+gpu-05/);
    expect(f).toMatch(/max 10% at once · soak 1m00s · max failures 0 then 10%/);
    // Cancel is focused first; the action can be pressed.
    expect(f).toMatch(/▸\[ No \]\s+\[ Start rollout \]/);
    for (const l of f.split("\n")) expect(displayWidth(l)).toBeLessThanOrEqual(80);

    await r.press("y");
    await r.waitForFrame("rollout llama-cpp started: 2 nodes in 2 waves (ro-new-0001)");
    const start = a.calls.filter((c) => c.method === "rollouts.start");
    expect(start.map((c) => c.req)).toEqual([{ backend: "llama-cpp", actor: "test@dash" }]);
    // Like every dashboard write: an idempotency key, so asking again never starts a second one.
    expect(start[0]!.key).toMatch(/^d[0-9a-f]{16}-0$/);
    expect(r.store.getState().stack.at(-1)).toEqual({ id: "rollout", param: "ro-new-0001" });
    feed(r.store, { rollouts: [started] });
    await r.waitForFrame(/Rollouts › llama-cpp/, "the new rollout's detail");
  });

  it("keeps the action disabled while the plan loads, and when the plan has nothing to upgrade", async () => {
    let answer: (p: RolloutPlanView) => void = () => {};
    const pending = new Promise<{ plan: RolloutPlanView }>((res) => (answer = (p) => res({ plan: p })));
    const a = api({ "rollouts.plan": () => pending });
    const r = renderDash({ api: a.caller, columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Backends [");
    await r.press("g", "u");
    await r.waitForFrame("Asking the controller for the plan");
    await r.press("y");
    await r.waitForFrame("waiting for the plan");
    expect(r.store.getState().dialog).not.toBeNull();

    answer(plan({ waves: [], skipped: [skipped("gpu-01", "current"), skipped("gpu-02", "current")] }));
    const f = await r.waitForFrame("Nothing to upgrade: every targeted node is skipped.");
    expect(f).toMatch(/current\s+2 nodes\s+gpu-01, gpu-02/);
    await r.press("y");
    await r.waitForFrame(/nothing to upgrade · n\/esc cancel/);
    expect(a.calls.map((c) => c.method)).toEqual(["rollouts.plan"]);
    await r.press("n");
    await r.waitForFrame("cancelled: nothing was sent");
  });

  it("does not offer a second rollout of a backend while one is active", async () => {
    const a = api({ "rollouts.plan": () => ({ plan: plan() }) });
    const r = renderDash({ api: a.caller, columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, { ...smallCluster(), rollouts: [rollout({ state: "paused" })] });
    await r.waitForFrame("Backends [");
    await r.press("g", "u");
    const f = await r.waitForFrame("a rollout of llama-cpp is already paused: ro-abc-0001");
    expect(f).toMatch(/wave 1\s+1 node\s+gpu-01/);
    await r.press("y");
    await r.waitForFrame("a rollout of llama-cpp is already paused · n/esc cancel");
    expect(a.calls.map((c) => c.method)).toEqual(["rollouts.plan"]);
  });

  it("says why there is no plan when the controller refuses one", async () => {
    const a = api({
      "rollouts.plan": () => {
        throw new Error("llama-cpp is not in any gallery");
      },
    });
    const r = renderDash({ api: a.caller, columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Backends [");
    await r.press("g", "u");
    await r.waitForFrame("No plan: llama-cpp is not in any gallery");
    await r.press("y");
    await r.waitForFrame("no plan, nothing to start");
    expect(a.calls.map((c) => c.method)).toEqual(["rollouts.plan"]);
  });

  it("fits 80×24 with a fleet-sized plan: long lists end in +N more and the buttons stay on screen", async () => {
    const names = (p: string, n: number) =>
      Array.from({ length: n }, (_, i) => `${p}-${String(i).padStart(3, "0")}`);
    const waves = [1, 9, 40, 100, 200, 250].map((n, i) =>
      names(`w${i + 1}`, n).map((x) => planned(x, i % 2 ? "0.9.0" : "1.0.0")),
    );
    const reasons = ["held", "pinned", "offline", "draining", "current"] as const;
    const a = api({
      "rollouts.plan": () => ({
        plan: plan({
          waves,
          skipped: reasons.flatMap((why, i) => names(why, i + 3).map((x) => skipped(x, why))),
        }),
      }),
    });
    const r = renderDash({ api: a.caller, columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Backends [");
    await r.press("g", "u");
    const f = await r.waitForFrame("Roll out llama-cpp", "the plan");
    await r.waitForFrame("+3 more waves (550 nodes)");
    const g = r.lastFrame();
    expect(g).toContain("Roll out llama-cpp 1.0.0, 0.9.0 → 1.1.0");
    expect(g).toMatch(/wave 2\s+9 nodes\s+w2-000, w2-001, .* \+\d+ more/);
    expect(g).toMatch(/from 0\.9\.0 on 359, 1\.0\.0 on 241/);
    expect(g).toContain("25 nodes skipped:");
    expect(g).toMatch(/current\s+7 nodes\s+current-000/);
    expect(g).toContain("+5 offline, 4 pinned, 3 held");
    expect(g).toMatch(/\[ No \]\s+\[ Start rollout \]/);
    expect(g.split("\n").length).toBeLessThanOrEqual(24);
    for (const l of [...f.split("\n"), ...g.split("\n")]) expect(displayWidth(l)).toBeLessThanOrEqual(80);
    expect(box(g).length).toBeLessThanOrEqual(19);
  });
});

describe("A on a rollout: the abort dialog", () => {
  it("lists the nodes it reverts, from which version back to which, and how many in-flight ops it cancels", async () => {
    const a = api({ "rollouts.abort": () => ({ rollout: rollout({ state: "aborting" }) }) });
    const r = renderDash({
      api: a.caller,
      columns: 80,
      rows: 24,
      stack: [{ id: "rollouts" }, { id: "rollout", param: "ro-abc-0001" }],
    });
    const upgrading = op("gpu-04", { id: "ro-abc-0001-3", kind: "upgrade", state: "running" });
    feed(r.store, {
      ...smallCluster(),
      rollouts: [rollout({ eligible: 5, waves: [1, 3, 5] })],
      rolloutNodes: [
        rolloutNode("gpu-01", 0, 0, "ok"),
        rolloutNode("gpu-02", 1, 1, "ok"),
        rolloutNode("gpu-03", 2, 1, "ok", { fromVersion: "0.9.0" }),
        rolloutNode("gpu-04", 3, 1, "run"),
        rolloutNode("gpu-05", 4, 2, "wait"),
        rolloutNode("gpu-06", 5, 2, "wait"),
      ],
      ops: [upgrading],
    });
    await r.waitForFrame("wave 2");
    await r.press("A");
    const f = await r.waitForFrame("Abort rollout llama-cpp mixed → 1.1.0");
    expect(f).toContain("Reverted to the generation they had before, no download (3 nodes):");
    expect(f).toMatch(/1\.1\.0 → 1\.0\.0\s+2 nodes\s+gpu-01, gpu-02/);
    expect(f).toMatch(/1\.1\.0 → 0\.9\.0\s+1 node\s+gpu-03/);
    expect(f).toContain("1 in-flight op is cancelled (the old version stays): gpu-04");
    expect(f).toContain("2 waiting nodes are not touched.");
    for (const l of f.split("\n")) expect(displayWidth(l)).toBeLessThanOrEqual(80);
    expect(a.calls).toEqual([]);
    await r.press("y");
    await r.waitForFrame("is aborting");
    expect(a.calls.map((c) => [c.method, c.req, typeof c.key])).toEqual([
      ["rollouts.abort", { id: "ro-abc-0001", actor: "test@dash" }, "string"],
    ]);
  });

  it("says so when nothing has been moved or is in flight yet", async () => {
    const r = renderDash({ columns: 80, rows: 24, stack: [{ id: "rollouts" }] });
    feed(r.store, {
      ...smallCluster(),
      rollouts: [rollout({ wave: 0, createdAt: NOW - 1000 })],
      rolloutNodes: [rolloutNode("gpu-01", 0, 0, "wait"), rolloutNode("gpu-02", 1, 1, "wait")],
    });
    await r.waitForFrame("llama-cpp");
    await r.press("A");
    const f = await r.waitForFrame("Abort rollout");
    expect(f).toContain("No node has been upgraded by it yet: nothing to revert.");
    expect(f).toContain("No op is in flight: nothing to cancel.");
    expect(f).toContain("2 waiting nodes are not touched.");
  });
});
