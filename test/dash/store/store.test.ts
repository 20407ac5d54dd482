import { describe, expect, it } from "vitest";
import { Coalescer } from "../../../src/store/coalescer.js";
import type { FeedEvent } from "../../../src/store/cluster-feed.js";
import { createDashStore, tableKeyOf } from "../../../src/store/index.js";
import { feed, node, NOW, op, progress, smallCluster } from "../helpers/cluster.js";

describe("coalescer", () => {
  it("keeps only the latest event per key and flushes once per interval", () => {
    const timers: Array<() => void> = [];
    const batches: Array<{ size: number; received: number; last: number }> = [];
    const c = new Coalescer<{ kind: string; key: string; n: number }>(
      (b, received) =>
        batches.push({ size: b.length, received, last: b.find((e) => e.key === "k3")?.n ?? -1 }),
      { intervalMs: 100, setTimer: (fn) => timers.push(fn), clearTimer: () => {} },
    );
    for (let i = 0; i < 10_000; i++) c.push({ kind: "progress", key: `k${i % 5}`, n: i });
    expect(timers).toHaveLength(1);
    timers.shift()!();
    expect(batches).toEqual([{ size: 5, received: 10_000, last: 9_998 }]);
    c.flush();
    expect(batches).toHaveLength(1);
  });
});

describe("store", () => {
  it("within one batch, an older heartbeat never replaces a newer one, and a deleted op gets no progress", () => {
    const s = createDashStore();
    feed(s, smallCluster());
    const hb = node("gpu-01").last;
    const o = s.getState().ops.get("op-run-1")!;
    s.getState().actions.applyBatch(
      [
        { kind: "heartbeat", key: "gpu-01", value: { ...hb, sentAt: NOW + 2_000 } },
        { kind: "heartbeat", key: "gpu-01", value: { ...hb, sentAt: NOW + 1_000 } },
        { kind: "ops", key: `gpu-01.${o.id}`, value: null },
        { kind: "progress", key: o.id, value: progress(o, 1, 2, NOW + 3_000) },
      ],
      4,
    );
    const after = s.getState();
    expect(after.heartbeats.get("gpu-01")?.sentAt).toBe(NOW + 2_000);
    expect(after.ops.has(o.id)).toBe(false);
    expect(after.progress.has(o.id)).toBe(false);
  });

  it("applies a batch replacing only the maps it touched", () => {
    const s = createDashStore();
    feed(s, smallCluster());
    const before = s.getState();
    s.getState().actions.applyBatch(
      [{ kind: "progress", key: "op-run-1", value: progress(before.ops.get("op-run-1")!, 1, 2, NOW + 1) }],
      1,
    );
    const after = s.getState();
    expect(after.progress).not.toBe(before.progress);
    expect(after.nodes).toBe(before.nodes);
    expect(after.ops).toBe(before.ops);
    expect(after.inventory).toBe(before.inventory);
    expect(after.stats.events).toBe(before.stats.events + 1);
  });

  it("ignores progress older than what it has, and drops progress of finished ops", () => {
    const s = createDashStore();
    const o = op("gpu-01", { id: "op-x" });
    const a = s.getState().actions;
    a.applyBatch(
      [
        { kind: "ops", key: "gpu-01.op-x", value: o },
        { kind: "progress", key: "op-x", value: progress(o, 50, 100, NOW) },
      ],
      2,
    );
    a.applyBatch([{ kind: "progress", key: "op-x", value: progress(o, 10, 100, NOW - 1000) }], 1);
    expect(s.getState().progress.get("op-x")!.bytesDone).toBe(50);
    a.applyBatch([{ kind: "ops", key: "gpu-01.op-x", value: { ...o, state: "succeeded" } }], 1);
    expect(s.getState().progress.has("op-x")).toBe(false);
    a.applyBatch([{ kind: "progress", key: "op-x", value: progress(o, 99, 100, NOW + 5) }], 1);
    expect(s.getState().progress.has("op-x")).toBe(false);
    a.applyBatch([{ kind: "ops", key: "gpu-01.op-x", value: null }], 1);
    expect(s.getState().ops.has("op-x")).toBe(false);
  });

  it("does not compare progress with an entry deleted earlier in the same batch", () => {
    const o = op("gpu-01", { id: "op-y" });
    const moved = { ...o, nodeId: "gpu-02" };
    const late = progress(moved, 10, 100, NOW - 1000);
    // The same events split over batches, then in one: the result must not differ.
    const split = createDashStore();
    const one = createDashStore();
    for (const s of [split, one]) {
      s.getState().actions.applyBatch(
        [
          { kind: "ops", key: "gpu-01.op-y", value: o },
          { kind: "progress", key: "op-y", value: progress(o, 50, 100, NOW) },
        ],
        2,
      );
    }
    const a = split.getState().actions;
    a.applyBatch([{ kind: "ops", key: "gpu-01.op-y", value: null }], 1);
    a.applyBatch([{ kind: "ops", key: "gpu-02.op-y", value: moved }], 1);
    a.applyBatch([{ kind: "progress", key: "op-y", value: late }], 1);
    one.getState().actions.applyBatch(
      [
        { kind: "ops", key: "gpu-01.op-y", value: null },
        { kind: "ops", key: "gpu-02.op-y", value: moved },
        { kind: "progress", key: "op-y", value: late },
      ],
      3,
    );
    expect(split.getState().progress.get("op-y")?.bytesDone).toBe(10);
    expect(one.getState().progress.get("op-y")?.bytesDone).toBe(10);
  });

  it("marks buckets synced and records when the last event arrived", () => {
    const s = createDashStore();
    expect(s.getState().synced.nodes).toBe(false);
    const events: FeedEvent[] = [{ kind: "ready", key: "nodes", keys: [] }];
    s.getState().actions.applyBatch(events, 1, 5);
    expect(s.getState().synced.nodes).toBe(true);
    expect(s.getState().lastEventAt).toBeNull();
    s.getState().actions.applyBatch([{ kind: "nodes", key: "n", value: node("n") }], 1, 7);
    expect(s.getState().lastEventAt).toBe(7);
  });

  it("after a re-watch, drops what the snapshot no longer holds (deleted while away)", () => {
    const s = createDashStore();
    feed(s, smallCluster());
    const a = s.getState().actions;
    a.applyBatch(
      [
        { kind: "nodes", key: "gpu-01", value: node("gpu-01") },
        { kind: "ready", key: "nodes", keys: ["gpu-01"] },
        { kind: "ready", key: "ops", keys: ["gpu-02.op-fail-1"] },
        { kind: "ready", key: "settings", keys: [] },
      ],
      4,
    );
    expect([...s.getState().nodes.keys()]).toEqual(["gpu-01"]);
    expect([...s.getState().ops.keys()]).toEqual(["op-fail-1"]);
    expect(s.getState().settings).toBeNull();
    expect(s.getState().inventory.size).toBe(3);
  });

  it("navigates as a stack that pops back to a view already on it", () => {
    const s = createDashStore();
    const a = s.getState().actions;
    a.navigate({ id: "backends" });
    a.navigate({ id: "backend", param: "llama-cpp" });
    a.navigate({ id: "node", param: "gpu-01" });
    expect(s.getState().stack.map(tableKeyOf)).toEqual([
      "nodes",
      "backends",
      "backend:llama-cpp",
      "node:gpu-01",
    ]);
    a.navigate({ id: "backends" });
    expect(s.getState().stack.map(tableKeyOf)).toEqual(["nodes", "backends"]);
    a.back();
    a.back();
    expect(s.getState().stack.map(tableKeyOf)).toEqual(["nodes"]);
  });

  it("remembers since when Operations is open: kept while an op's detail is on top, cleared when it is left", () => {
    let t = 1_000;
    const s = createDashStore({ now: () => t, keepFinishedMs: 60_000 });
    const a = s.getState().actions;
    expect(s.getState().opsKeep).toEqual({ all: false, since: null, keepMs: 60_000 });
    a.navigate({ id: "ops" });
    expect(s.getState().opsKeep.since).toBe(1_000);
    t = 2_000;
    a.navigate({ id: "op", param: "op-1" });
    a.back();
    expect(s.getState().opsKeep.since).toBe(1_000);
    a.back();
    expect(s.getState().opsKeep.since).toBeNull();
    t = 3_000;
    a.navigate({ id: "ops" });
    a.navigate({ id: "nodes" });
    expect(s.getState().opsKeep.since).toBeNull();
    a.toggleOpsAll();
    expect(s.getState().opsKeep.all).toBe(true);
    expect(createDashStore({ stack: [{ id: "ops" }], now: () => 7 }).getState().opsKeep.since).toBe(7);
  });
});
