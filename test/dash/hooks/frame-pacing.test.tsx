import { afterEach, describe, expect, it } from "vitest";
import { FramePacer } from "../../../src/hooks/frame-pacer.js";
import { createDashStore } from "../../../src/store/index.js";
import { feed, node } from "../helpers/cluster.js";
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
});
