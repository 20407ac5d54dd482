import { afterEach, describe, expect, it } from "vitest";
import { rolloutOpId, type Rollout } from "../../../src/protocol/index.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, NOW, op, progress, rollout, rolloutNode, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

/** Wave 1 (gpu-01) done, wave 2 running: gpu-02 upgrading, gpu-03 failed; cpu-01 skipped (held). */
function midRollout(o: Partial<Rollout> = {}) {
  const r = rollout(o);
  const upgrading = op("gpu-02", {
    id: rolloutOpId(r.id, 1),
    kind: "upgrade",
    backend: "cuda12-llama-cpp",
    state: "running",
    phase: "downloading",
  });
  return {
    ...smallCluster(),
    rollouts: [
      r,
      rollout({
        id: "ro-old-0002",
        backend: "whisper",
        galleryVersion: "2.0.0",
        state: "succeeded",
        reason: "every wave passed",
        createdAt: NOW - 3_600_000,
        endedAt: NOW - 3_000_000,
        wave: 2,
      }),
    ],
    rolloutNodes: [
      rolloutNode("gpu-01", 0, 0, "ok"),
      rolloutNode("gpu-02", 1, 1, "run"),
      rolloutNode("gpu-03", 2, 1, "fail", { why: "manifest unknown (HTTP 404)" }),
      rolloutNode("cpu-01", 3, -1, "skip", { skip: "held", why: "the node is held" }),
      rolloutNode("gpu-09", 0, 2, "ok", { rollout: "ro-old-0002", fromVersion: "1.9.0" }),
    ],
    ops: [upgrading],
    progress: [progress(upgrading, 3 * 2 ** 30, 6 * 2 ** 30)],
  };
}

const ANSWER = (state: Rollout["state"], reason?: string) => () => ({
  rollout: rollout({ state, ...(reason ? { reason } : {}) }),
});

describe("Rollouts view", () => {
  it("lists each rollout: backend, from → to, wave k/n, a bar of its nodes, state, reason; the header counts active ones", async () => {
    const r = renderDash({ columns: 100, rows: 24, stack: [{ id: "rollouts" }] });
    feed(r.store, midRollout());
    const f = await r.waitForFrame("whisper", "both rollouts listed");
    expect(f).toContain("Rollouts");
    expect(f).toContain("1 active");
    const row = f.split("\n").find((l) => l.includes("llama-cpp") && l.includes("running"))!;
    expect(row).toMatch(/llama-cpp\s+1\.0\.0 → 1\.1\.0\s+2\/3\s+█+▓+✗+ 1\/3\s+running/);
    expect(row).toMatch(/5m0\ds$/);
    const old = f.split("\n").find((l) => l.includes("whisper"))!;
    expect(old).toMatch(/1\.9\.0 → 2\.0\.0\s+3\/3\s+█+ 1\/1\s+succeeded\s+every wave passed/);
    // The header line of cluster counts says one rollout is active.
    expect(f.split("\n")[1]).toContain("rollouts ▶1");
  });

  it("enter opens a rollout: waves with each node's outcome and op progress, the soak countdown, the failure budget", async () => {
    const r = renderDash({ columns: 80, rows: 30, stack: [{ id: "rollouts" }] });
    feed(r.store, midRollout());
    await r.waitForFrame("llama-cpp");
    await r.press("enter");
    const f = await r.waitForFrame("wave 2", "the rollout's detail");
    expect(f).toContain("Rollouts › llama-cpp 1.0.0 → 1.1.0");
    expect(f).toMatch(/state\s+running/);
    expect(f).toMatch(/gate\s+wave 2: 1 node still to finish/);
    // Budget of a later wave: 10% of 3 eligible nodes, rounded up.
    expect(f).toMatch(/failures\s+1 of 1 allowed/);
    expect(f).toMatch(/wave 1\s+1 node · passed/);
    expect(f).toMatch(/gpu-01\s+✓ done/);
    expect(f).toMatch(/wave 2\s+2 nodes · current/);
    // The running node carries its op's live progress.
    expect(f).toMatch(/gpu-02\s+running\s+█+░+\s+50% 3\.0G\/6\.0G/);
    expect(f).toMatch(/gpu-03\s+✗ failed\s+manifest unknown \(HTTP 404\)/);
    expect(f).toMatch(/wave 3\s+0 nodes · not started/);
    expect(f).toMatch(/cpu-01\s+held\s+the node is held/);

    // Every node of the wave done: the soak counts down.
    feed(r.store, {
      rollouts: [rollout({ soakStartedAt: NOW - 20_000 })],
      rolloutNodes: [rolloutNode("gpu-02", 1, 1, "ok"), rolloutNode("gpu-03", 2, 1, "ok")],
    });
    const soak = await r.waitForFrame(/gate\s+soak \d+s left of 1m00s/, "the soak countdown");
    expect(soak).toMatch(/soak (3\d|40)s left/);
  });

  it("p pauses the selected rollout at once (rollouts.pause), and resumes a paused one", async () => {
    const api = fakeApi({ "rollouts.pause": ANSWER("paused"), "rollouts.resume": ANSWER("running") });
    const r = renderDash({ api, columns: 100, rows: 24, stack: [{ id: "rollouts" }] });
    feed(r.store, midRollout());
    await r.waitForFrame("llama-cpp");
    await r.press("p");
    await r.waitForFrame("rollout llama-cpp 1.0.0 → 1.1.0 is paused");
    expect(api.calls).toEqual([{ method: "rollouts.pause", req: { id: "ro-abc-0001", actor: "test@dash" } }]);

    feed(r.store, { rollouts: [rollout({ state: "paused", reason: "paused by alice" })] });
    await r.waitForFrame(/paused\s+paused by alice/);
    await r.press("p");
    await r.waitForFrame("is running");
    expect(api.calls.at(-1)?.method).toBe("rollouts.resume");
  });

  it("A asks first, listing the nodes that will be reverted and cancelled; y calls rollouts.abort", async () => {
    const api = fakeApi({ "rollouts.abort": ANSWER("aborting", "aborted by test@dash") });
    const r = renderDash({
      api,
      columns: 100,
      rows: 24,
      stack: [{ id: "rollouts" }, { id: "rollout", param: "ro-abc-0001" }],
    });
    feed(r.store, midRollout());
    await r.waitForFrame("wave 2");
    await r.press("A");
    const d = await r.waitForFrame("Abort rollout llama-cpp 1.0.0 → 1.1.0");
    expect(d).toContain("Reverted to the generation they had before, no download (1 node):");
    expect(d).toMatch(/1\.1\.0 → 1\.0\.0\s+1 node\s+gpu-01/);
    expect(d).toContain("1 in-flight op is cancelled (the old version stays): gpu-02");
    expect(api.calls).toEqual([]);
    await r.press("y");
    await r.waitForFrame("is aborting: aborted by test@dash");
    expect(api.calls).toEqual([{ method: "rollouts.abort", req: { id: "ro-abc-0001", actor: "test@dash" } }]);
  });

  it("x on a running rollout says why not; on an ended one it calls rollouts.dismiss", async () => {
    const api = fakeApi({
      "rollouts.dismiss": () => ({ rollout: rollout({ state: "aborted", dismissed: true }) }),
    });
    const r = renderDash({ api, columns: 100, rows: 24, stack: [{ id: "rollouts" }] });
    feed(r.store, midRollout());
    await r.waitForFrame("llama-cpp");
    await r.press("x");
    await r.waitForFrame("only an ended rollout can be dismissed");
    expect(api.calls).toEqual([]);
    feed(r.store, { rollouts: [rollout({ state: "aborted", reason: "1 node reverted" })] });
    await r.waitForFrame(/aborted\s+1 node reverted/);
    await r.press("x");
    await r.waitForFrame("is aborted (dismissed)");
    expect(api.calls.map((c) => c.method)).toEqual(["rollouts.dismiss"]);
  });
});

describe("a rollout's end", () => {
  it("is told in a toast and in History when a rollout seen running ends", async () => {
    const r = renderDash({ columns: 100, rows: 24, stack: [{ id: "rollouts" }] });
    feed(r.store, midRollout());
    await r.waitForFrame("llama-cpp");
    expect(r.store.getState().outcomes).toEqual([]);
    feed(r.store, {
      rollouts: [rollout({ state: "aborted", reason: "aborted by bob; 1 node reverted", endedAt: NOW })],
    });
    await r.waitForFrame("rollout llama-cpp 1.0.0 → 1.1.0 aborted: aborted by bob; 1 node reverted");
    expect(r.store.getState().toast?.level).toBe("warn");
    expect(r.store.getState().outcomes).toHaveLength(1);
    await r.press("4");
    const h = await r.waitForFrame(/rollout\s+│/);
    expect(h).toMatch(/rollout\s+│\s+│ llama-cpp\s+│ 1\.0\.0 → 1\.1\.0 aborted/);
  });

  it("is not told for a rollout that had ended before it was seen", () => {
    const store = createDashStore();
    feed(store, { rollouts: [rollout({ state: "succeeded", reason: "done" })] });
    feed(store, { rollouts: [rollout({ state: "succeeded", reason: "done", updatedAt: NOW })] });
    expect(store.getState().outcomes).toEqual([]);
    expect(store.getState().toast).toBeNull();
    // Seen running, then succeeded: told once, as ok.
    feed(store, { rollouts: [rollout({ id: "ro-abc-0003", state: "running" })] });
    feed(store, {
      rollouts: [rollout({ id: "ro-abc-0003", state: "succeeded", reason: "every wave passed" })],
    });
    feed(store, {
      rollouts: [rollout({ id: "ro-abc-0003", state: "succeeded", reason: "every wave passed" })],
    });
    expect(store.getState().outcomes).toHaveLength(1);
    expect(store.getState().toast).toMatchObject({ level: "ok" });
  });
});
