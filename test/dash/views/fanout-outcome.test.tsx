import { afterEach, describe, expect, it } from "vitest";
import { outcomeText, watchOutcome } from "../../../src/store/fanout-outcome.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, NOW, op, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

describe("a fan-out's outcome", () => {
  it("reads as counts, and its level says whether anything failed", () => {
    const ops = (...states: Array<"succeeded" | "failed" | "cancelled">) =>
      states.map((state) => ({ state }));
    expect(outcomeText("install x", ops("succeeded", "succeeded", "succeeded", "failed"))).toMatchObject({
      level: "warn",
      text: "install x: 3 succeeded, 1 failed",
    });
    expect(outcomeText("install x", ops("failed", "failed")).level).toBe("err");
    // An op deleted before it was seen to end counts as such (recorded with a non-final state).
    expect(outcomeText("install x", [{ state: "succeeded" }, { state: "queued" }]).text).toBe(
      "install x: 1 succeeded, 0 failed, 1 removed before it ended here",
    );
    expect(outcomeText("install x", ops("succeeded")).level).toBe("ok");
    expect(outcomeText("upgrade y", ops("succeeded", "cancelled")).text).toBe(
      "upgrade y: 1 succeeded, 0 failed, 1 cancelled",
    );
  });

  it("is told in a toast once every op of it has ended (not at admission), and in History", async () => {
    const api = fakeApi({
      "ops.upgrade": () => ({
        admitted: [
          { nodeId: "gpu-01", opId: "op-f1", existing: false },
          { nodeId: "gpu-02", opId: "op-f2", existing: false },
        ],
        refused: [],
      }),
      "ops.history": () => ({ events: [] }),
    });
    const r = renderDash({ api, columns: 80, stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Nodes › gpu-01");
    await r.press("u");
    await r.waitForFrame("Upgrade llama-cpp");
    await r.press("y");
    await r.waitForFrame("upgrade llama-cpp: 2 admitted");

    const running = (id: string, nodeId: string) =>
      op(nodeId, { id, kind: "upgrade", backend: "llama-cpp", createdAt: NOW });
    feed(r.store, { ops: [running("op-f1", "gpu-01"), running("op-f2", "gpu-02")] });
    feed(r.store, {
      ops: [
        { ...running("op-f1", "gpu-01"), state: "succeeded", finishedAt: NOW },
        { ...running("op-f2", "gpu-02"), state: "running" },
      ],
    });
    // One still running: the admission toast stays.
    expect(r.store.getState().toast?.text).toBe("upgrade llama-cpp: 2 admitted");
    expect(r.store.getState().outcomes).toEqual([]);
    feed(r.store, {
      ops: [{ ...running("op-f2", "gpu-02"), state: "failed", error: "boom", finishedAt: NOW }],
    });
    const f = await r.waitForFrame("upgrade llama-cpp: 1 succeeded, 1 failed");
    expect(f).not.toContain("2 admitted");

    await r.press("4");
    const h = await r.waitForFrame("fan-out");
    expect(h).toMatch(/fan-out\s+│\s+│ llama-cpp\s+│ 1 succeeded, 1 failed/);
  });

  it("a tracked op deleted from the bucket before it was seen to end still lets the fan-out be told", () => {
    const store = createDashStore();
    const stop = watchOutcome(store, "install", "piper", ["op-a", "op-b"]);
    const a = op("n1", { id: "op-a", backend: "piper" });
    const b = op("n2", { id: "op-b", backend: "piper" });
    feed(store, { ops: [a, b] });
    store.getState().actions.applyBatch([{ kind: "ops", key: "n2.op-b", value: null }], 1);
    expect(store.getState().outcomes).toEqual([]);
    feed(store, { ops: [{ ...a, state: "succeeded", finishedAt: NOW }] });
    expect(store.getState().toast?.text).toBe(
      "install piper: 1 succeeded, 0 failed, 1 removed before it ended here",
    );
    expect(store.getState().toast?.level).toBe("warn");
    stop();
  });

  it("a fan-out too big to list: its unlisted ops are found by the batch's id prefix and counted in", () => {
    const store = createDashStore();
    const stop = watchOutcome(store, "upgrade", "piper", ["op-old"], { prefix: "op-b-", total: 3 });
    const done = { state: "succeeded" as const, finishedAt: NOW };
    const old = op("n1", { id: "op-old", backend: "piper", ...done });
    const b0 = op("n2", { id: "op-b-0", backend: "piper", ...done });
    const other = op("n3", { id: "op-other", backend: "piper", ...done });
    feed(store, { ops: [old, b0, other] });
    // Two of three ended: not told yet (the third has not even been seen).
    expect(store.getState().outcomes).toEqual([]);
    feed(store, { ops: [op("n4", { id: "op-b-1", backend: "piper", ...done })] });
    expect(store.getState().toast?.text).toBe("upgrade piper: 3 succeeded, 0 failed");
    stop();
  });
});
