import { afterEach, describe, expect, it } from "vitest";
import { Coalescer } from "../../../src/store/coalescer.js";
import type { FeedEvent } from "../../../src/store/cluster-feed.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, node, NOW, op, progress } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const FLUSH_MS = 100;
const EVENTS = 10_000;
const MiB = 1024 * 1024;

describe("an event storm", () => {
  it("10 000 progress events cost a bounded number of renders and end on the last value", async () => {
    const store = createDashStore({ stack: [{ id: "ops" }] });
    const o = op("gpu-01", { id: "op-storm", backend: "llama-cpp" });
    feed(store, { nodes: [node("gpu-01")], ops: [o] });
    let commits = 0;
    const r = renderDash({ store, onCommit: () => commits++ });
    await r.waitForFrame("install llama-cpp @gpu-01");

    const coalescer = new Coalescer<FeedEvent>((batch, n) => store.getState().actions.applyBatch(batch, n), {
      intervalMs: FLUSH_MS,
    });
    const batchesBefore = store.getState().stats.batches;
    commits = 0;
    const started = Date.now();
    // 10 events per timer turn over 1 000 turns (~1 s): fed straight to the store, ~1 000 renders.
    for (let i = 0; i < EVENTS; i += 10) {
      for (let j = i; j < i + 10; j++) {
        coalescer.push({
          kind: "progress",
          key: o.id,
          value: progress(o, (j + 1) * MiB, EVENTS * MiB, NOW + j),
        });
      }
      await new Promise((res) => setTimeout(res, 0));
    }
    coalescer.flush();
    const elapsed = Date.now() - started;
    const frame = await r.waitForFrame(
      (f) => f.includes("100%") && f.includes("9.8G/9.8G"),
      "the last value",
    );
    expect(frame).toMatch(/█+ 100%/);

    const flushes = store.getState().stats.batches - batchesBefore;
    expect(flushes).toBeGreaterThan(1);
    const allowed = Math.ceil(elapsed / FLUSH_MS) + 1;
    expect(flushes).toBeLessThanOrEqual(allowed);
    // Every flush is one commit; the shared 1 s clock (ages) may add one per second.
    expect(commits).toBeLessThanOrEqual(allowed + Math.ceil(elapsed / 1000) + 1);
    expect(store.getState().stats.events).toBeGreaterThanOrEqual(EVENTS);
  });
});
