import { afterEach, describe, expect, it } from "vitest";
import { feed, node, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

function setup() {
  const api = fakeApi({
    "gallery.list": () => ({
      entries: [{ name: "llama-cpp", gallery: "main", kind: "meta", development: false }],
    }),
    "gallery.resolve": (req) => ({
      backend: req.backend,
      nodes: [],
      capabilities: (req.capabilities ?? []).map((capability) => ({
        capability,
        concrete: "cuda12-llama-cpp",
      })),
    }),
    "ops.install": (req) => ({
      admitted: (req.nodes ?? []).map((nodeId) => ({ nodeId, opId: `op-${nodeId}`, existing: false })),
      refused: [],
    }),
  });
  const f = smallCluster();
  f.nodes![1] = node("gpu-02", { status: "draining" });
  const r = renderDash({ api, columns: 100, rows: 24 });
  feed(r.store, f);
  return { r, api };
}

describe("install picker", () => {
  it("says plainly which node came pre-selected from Nodes", async () => {
    const { r } = setup();
    await r.waitForFrame("gpu-01");
    await r.press("j", "i");
    await r.waitForFrame("Install › choose a backend");
    await r.press("enter");
    const f = await r.waitForFrame("pre-selected from Nodes: gpu-01");
    expect(f).toMatch(/\[x\] gpu-01/);
    // Unselecting it ends the pre-selection, and the line goes.
    await r.press("/");
    await r.type("gpu-01");
    await r.press("enter", "space");
    await r.waitForFrame((x) => !x.includes("pre-selected"), "the pre-selection line gone");
  });

  it("opened from elsewhere it starts with nothing selected, even after a pick in Nodes", async () => {
    const { r, api } = setup();
    await r.waitForFrame("gpu-01");
    await r.press("j", "i", "esc", "esc");
    await r.waitForFrame("Nodes [");
    await r.press("2");
    await r.waitForFrame("Backends [");
    await r.press("i", "enter");
    const f = await r.waitForFrame("cuda12-llama-cpp");
    expect(f).toContain("0 selected");
    expect(f).not.toContain("[x]");
    expect(f).not.toContain("pre-selected");
    await r.press("enter");
    await r.waitForFrame("select at least one node");
    expect(api.calls.some((c) => c.method === "ops.install")).toBe(false);
  });

  it("shows which nodes already have the backend, and greys out draining ones (they cannot be picked)", async () => {
    const { r, api } = setup();
    await r.waitForFrame("gpu-01");
    await r.press("2", "i", "enter");
    let f = await r.waitForFrame("cuda12-llama-cpp");
    expect(f).toMatch(/gpu-01[^\n]*cuda12-llama-cpp \(has 1\.0\.0\)/);
    expect(f).toMatch(/cpu-01[^\n]*cuda12-llama-cpp \(has 0\.9\.0\)/);
    expect(f).toMatch(/ - +gpu-02[^\n]*draining/);
    await r.press("G", "space");
    await r.waitForFrame("gpu-02 is draining: it takes no new work");
    await r.press("*");
    f = await r.waitForFrame("2 selected");
    expect(f).not.toMatch(/\[x\] gpu-02/);
    await r.press("enter");
    await r.waitForFrame("install llama-cpp: 2 admitted");
    const sent = api.calls.find((c) => c.method === "ops.install")?.req as { nodes: string[] } | undefined;
    expect(sent?.nodes.slice().sort()).toEqual(["cpu-01", "gpu-01"]);
  });
});
