import { afterEach, describe, expect, it } from "vitest";
import { FramePacer } from "../../../src/app/frame-pacer.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, node, op, progress } from "../helpers/cluster.js";
import { plain, renderDash, settle, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

describe("frame pacing in the app", () => {
  it("draws through the pacer, and a key's frame does not wait behind a data frame", async () => {
    const pacer = new FramePacer({ maxFps: 15, burst: 2 });
    const store = createDashStore({ context: { name: "test", servers: ["nats://t:4222"] } });
    feed(store, { nodes: [node("gpu-01")] });
    const r = renderDash({ store, pacer, columns: 100, rows: 30 });
    const drawn = () => plain(r.stdout.frames.join(""));
    await r.waitForFrame(() => drawn().includes("gpu-01"), "the first frame");

    // A data frame, then a key right behind it.
    const before = pacer.frames;
    feed(store, { nodes: [node("gpu-02")] });
    await settle();
    expect(pacer.frames).toBe(before + 1);
    const mark = r.stdout.frames.length;
    await r.press("3");
    expect(pacer.frames).toBe(before + 2);
    expect(plain(r.stdout.frames.slice(mark).join(""))).toContain("Operations [");
  });

  it("draws a storm of store updates at most 15 times a second, ending on the last one", async () => {
    const pacer = new FramePacer({ maxFps: 15, burst: 2 });
    const store = createDashStore({ stack: [{ id: "ops" }] });
    const o = op("gpu-01", { id: "op-storm", backend: "llama-cpp" });
    feed(store, { nodes: [node("gpu-01")], ops: [o] });
    const r = renderDash({ store, pacer, columns: 100, rows: 30 });
    const drawn = () => plain(r.stdout.frames.join(""));
    await r.waitForFrame(() => drawn().includes("install llama-cpp"), "the ops view");

    const MiB = 2 ** 20;
    const UPDATES = 1_000;
    const before = pacer.frames;
    const started = Date.now();
    // One store update per event-loop turn, uncoalesced: far more than 15 a second.
    for (let i = 1; i <= UPDATES; i++) {
      store
        .getState()
        .actions.applyBatch([{ kind: "progress", key: o.id, value: progress(o, i * MiB, UPDATES * MiB) }], 1);
      await new Promise((res) => setImmediate(res));
    }
    await r.waitForFrame(() => drawn().includes("100%"), "the last value");
    const seconds = (Date.now() - started) / 1000;
    const frames = pacer.frames - before;
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThanOrEqual(Math.ceil(seconds * 15) + 2);
  });
});
