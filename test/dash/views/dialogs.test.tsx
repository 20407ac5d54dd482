import { afterEach, describe, expect, it } from "vitest";
import { displayWidth } from "../../../src/format/text.js";
import { howMany } from "../../../src/views/backends/intents.js";
import { feed, op, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

describe("confirm dialogs", () => {
  it("an upgrade on a node says from → to and where", async () => {
    const r = renderDash({ columns: 100, stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("Nodes › gpu-01");
    await r.press("u");
    const f = await r.waitForFrame("Upgrade llama-cpp");
    expect(f).toContain("1.0.0 → 1.1.0 on gpu-01");
  });

  it("says how many nodes in words that agree with the number", () => {
    expect([howMany(2, 3), howMany(3, 3), howMany(1, 1)]).toEqual([
      "2 of the 3 nodes that have it",
      "all 3 nodes that have it",
      "the only node that has it",
    ]);
  });

  it("upgrade everywhere is not offered when no node has a newer version", async () => {
    const r = renderDash({ columns: 100, stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    await r.waitForFrame("whisper");
    await r.press("G", "u");
    const f = await r.waitForFrame("no node has a newer version known");
    expect(f).not.toContain("everywhere");
    expect(r.store.getState().dialog).toBeNull();
  });

  it("wraps its text between words instead of cutting it, at the narrowest terminal", async () => {
    const r = renderDash({ columns: 60, rows: 20, stack: [{ id: "ops" }] });
    const label = "install a-backend-with-a-rather-long-name on gpu-node-0001 and gpu-node-0002";
    r.store.getState().actions.openDialog({
      intent: { kind: "cancel", opIds: ["a"], label },
      title: "Cancel 1 operation",
      lines: [label, "A download in flight is aborted and the previous version stays live."],
      action: "Cancel 1 op",
    });
    const f = await r.waitForFrame("Cancel 1 operation");
    for (const l of f.split("\n")) expect(displayWidth(l)).toBeLessThanOrEqual(60);
    const ls = f.split("\n");
    const box = ls.slice(
      ls.findIndex((l) => l.includes("╭")),
      ls.findIndex((l) => l.includes("╰")),
    );
    expect(box.length).toBeGreaterThan(4);
    expect(box.join("\n")).not.toContain("…");
    const body = box
      .map((l) => l.replace(/^[\s│╭╮╰╯─]+|[\s│╭╮╰╯─]+$/g, ""))
      .filter(Boolean)
      .join(" ");
    expect(body).toContain("A download in flight is aborted and the previous version stays live.");
    expect(body).toContain("a-backend-with-a-rather-long-name");
  });

  it("too long for the screen, it says how much it left out and keeps its buttons on screen", async () => {
    const r = renderDash({ columns: 60, rows: 16, stack: [{ id: "ops" }] });
    r.store.getState().actions.openDialog({
      intent: { kind: "cancel", opIds: ["a"], label: "x" },
      title: "Roll back whisper on 20 nodes",
      lines: Array.from({ length: 20 }, (_, i) => `node-${i}: → 1.0.0`),
      action: "Roll back",
    });
    const f = await r.waitForFrame("Roll back whisper on 20 nodes");
    expect(f).toMatch(/▸\[ No \]\s+\[ Roll back \]/);
    expect(f).toMatch(/… \d+ more lines not shown/);
    expect(f).toContain("node-0: → 1.0.0");
    expect(f.split("\n").length).toBeLessThanOrEqual(16);
  });

  it("a 4-op cancel says so on its button", async () => {
    const r = renderDash({ columns: 100, stack: [{ id: "ops" }] });
    const ops = ["n1", "n2", "n3", "n4"].map((n) => op(n, { id: `op-${n}`, backend: "piper" }));
    feed(r.store, { ...smallCluster(), ops });
    await r.waitForFrame("install piper ×4");
    await r.press("c");
    const f = await r.waitForFrame("Cancel 4 operations");
    expect(f).toMatch(/\[ Cancel 4 ops \]/);
  });
});
