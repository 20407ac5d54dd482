import { describe, expect, it } from "vitest";
import type { FeedEvent } from "../../../src/store/cluster-feed.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, inventory, NOW, op, progress, settings, smallCluster, upgrade } from "../helpers/cluster.js";

/** How each watched bucket lands in its slice of the store, and what a re-watch drops. */
describe("applyBatch per bucket", () => {
  it("keeps ops by op id (from the record, else from the key) and settings only under its key", () => {
    const s = createDashStore();
    const keyed = op("gpu-01", { id: "op-keyed" });
    s.getState().actions.applyBatch(
      [
        { kind: "ops", key: "gpu-01.op-keyed", value: keyed },
        { kind: "ops", key: "not-an-op-key", value: null },
        { kind: "settings", key: "other", value: settings(true) },
        { kind: "upgrades", key: "vllm", value: upgrade("vllm", "2.0.0", ["gpu-01"]) },
        { kind: "inventory", key: "gpu-01", value: inventory("gpu-01", []) },
      ],
      5,
    );
    let st = s.getState();
    expect([...st.ops.keys()]).toEqual(["op-keyed"]);
    expect(st.settings).toBeNull();
    expect([...st.upgrades.keys()]).toEqual(["vllm"]);
    expect([...st.inventory.keys()]).toEqual(["gpu-01"]);

    s.getState().actions.applyBatch(
      [
        { kind: "settings", key: "cluster", value: settings(true) },
        { kind: "ops", key: "gpu-01.op-keyed", value: null },
      ],
      2,
    );
    st = s.getState();
    expect(st.settings?.autoUpgrade).toBe(true);
    expect(st.ops.size).toBe(0);
  });

  it("after a re-watch, drops inventories and upgrades the snapshot lacks, but not ones changed in the batch", () => {
    const s = createDashStore();
    feed(s, smallCluster());
    const before = s.getState();
    s.getState().actions.applyBatch(
      [
        { kind: "inventory", key: "cpu-01", value: inventory("cpu-01", []) },
        { kind: "ready", key: "inventory", keys: ["gpu-01"] },
        { kind: "ready", key: "upgrades", keys: ["llama-cpp"] },
      ],
      3,
    );
    const after = s.getState();
    expect([...after.inventory.keys()].sort()).toEqual(["cpu-01", "gpu-01"]);
    expect(after.upgrades).toBe(before.upgrades);
    expect(after.nodes).toBe(before.nodes);
    expect(after.settings).toBe(before.settings);
  });

  it("a settings snapshot without the cluster key clears settings even if the batch set them", () => {
    const s = createDashStore();
    const events: FeedEvent[] = [
      { kind: "settings", key: "cluster", value: settings(true) },
      { kind: "ready", key: "settings", keys: ["other"] },
    ];
    s.getState().actions.applyBatch(events, 2);
    expect(s.getState().settings).toBeNull();
    expect(s.getState().synced.settings).toBe(true);
  });

  it("keeps progress of unknown ops up to a bound, then only that of ops it has", () => {
    const s = createDashStore();
    feed(s, smallCluster());
    const orphans: FeedEvent[] = [];
    for (let i = 0; i < 2_001; i++) {
      const o = op("gpu-01", { id: `op-orphan-${i}` });
      orphans.push({ kind: "progress", key: o.id, value: progress(o, 1, 2, NOW + 1) });
    }
    s.getState().actions.applyBatch(orphans, orphans.length);
    expect([...s.getState().progress.keys()]).toEqual(["op-run-1"]);
  });
});
