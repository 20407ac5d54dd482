import { describe, expect, it } from "vitest";
import { LayerWrites } from "../../src/agent/layer-writes.js";

describe("what a layer has written (for opaque whiteouts), in bounded memory", () => {
  it("names what the layer wrote directly in a directory or below it", () => {
    const w = new LayerWrites();
    for (const p of ["d", "d/a", "d/sub/deep/f", "e/x"]) w.add(p.split("/"));
    expect([...w.namesIn(["d"])!].sort()).toEqual(["a", "sub"]);
    expect([...w.namesIn([])!].sort()).toEqual(["d", "e"]);
    expect([...w.namesIn(["d", "a"])!]).toEqual([]);
    expect([...w.namesIn(["never"])!]).toEqual([]);
  });

  it("past 65,536 paths it still knows which directories it never wrote into", () => {
    const w = new LayerWrites();
    for (let i = 0; i < 70_000; i++) w.add(["big", `f${i}`]);
    expect(w.namesIn(["other"])).toEqual(new Set());
    expect(w.namesIn(["big", "f1"])).toEqual(new Set());
    // Written below, but the names are no longer remembered: the caller refuses the whiteout.
    expect(w.namesIn(["big"])).toBeNull();
    expect(w.namesIn([])).toBeNull();
  });

  it("past 65,536 directories it knows nothing, and says so", () => {
    const w = new LayerWrites();
    for (let i = 0; i < 70_000; i++) w.add([`d${i}`, "f"]);
    expect(w.namesIn(["elsewhere"])).toBeNull();
  });
});
