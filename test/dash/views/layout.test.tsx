import { afterEach, describe, expect, it } from "vitest";
import { displayWidth } from "../../../src/format/text.js";
import type { ViewId } from "../../../src/keymap/index.js";
import type { ViewEntry } from "../../../src/store/index.js";
import { VIEW_IDS, viewSpec } from "../../../src/views/registry.js";
import {
  feed,
  inventory,
  installed,
  node,
  op,
  progress,
  rollout,
  rolloutNode,
  smallCluster,
} from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

function lines(frame: string): string[] {
  return frame.replace(/\n$/, "").split("\n");
}

/** Long names everywhere, to force truncation. */
function wideCluster() {
  const f = smallCluster();
  const long = "gpu-node-with-a-very-long-name-0001";
  f.nodes!.push(
    node(long, { capability: "nvidia-l4t-cuda-12-orin-super", model: "NVIDIA RTX 6000 Ada Generation" }),
  );
  f.inventories!.push(
    inventory(long, [installed("a-backend-with-an-extremely-long-name-development", "1.2.3-rc.1+build.456")]),
  );
  const o = op(long, { id: "op-long", backend: "a-backend-with-an-extremely-long-name-development" });
  f.ops!.push(o, op(long, { id: "op-long-f", state: "failed", error: "x".repeat(300) + "\nsecond line" }));
  f.progress!.push(progress(o, 3 * 2 ** 30, 7 * 2 ** 30));
  // A rollout with a long reason and a node of each kind, for Rollouts and its detail.
  const ro = rollout({
    reason: "r".repeat(200),
    backend: "a-backend-with-an-extremely-long-name-development",
  });
  const nodes = [
    rolloutNode(long, 0, 0, "ok"),
    rolloutNode("gpu-01", 1, 1, "run"),
    rolloutNode("gpu-02", 2, 1, "fail", { why: "y".repeat(300) }),
    rolloutNode("cpu-01", 3, -1, "skip", { skip: "held", why: "held" }),
  ];
  return { ...f, rollouts: [ro], rolloutNodes: nodes };
}

/** The parameter of each view that needs one (it has no `:` name); the rest open as they are. */
const PARAMS: Partial<Record<ViewId, string>> = {
  backend: "llama-cpp",
  node: "gpu-node-with-a-very-long-name-0001",
  op: "op-long-f",
  rollout: "ro-abc-0001",
};

/** Every view of the registry. */
const VIEWS: ViewEntry[] = VIEW_IDS.map((id) => {
  const param = PARAMS[id];
  return param === undefined ? { id } : { id, param };
});

it("has a parameter for every view that needs one", () => {
  const need = VIEW_IDS.filter((id) => viewSpec(id).names.length === 0);
  expect(need.filter((id) => PARAMS[id] === undefined)).toEqual([]);
});

describe("80×24", () => {
  for (const v of VIEWS) {
    it(`${v.id}${v.param ? `:${v.param}` : ""}: rows-1 lines, none wider than 80, header on top and footer at the bottom`, async () => {
      const r = renderDash({
        columns: 80,
        rows: 24,
        stack: [{ id: "nodes" }, ...(v.id === "nodes" ? [] : [v])],
      });
      feed(r.store, wideCluster());
      const frame = await r.waitForFrame(/^nodes 4/m);
      const ls = lines(frame);
      expect(ls).toHaveLength(23);
      for (const l of ls) expect(displayWidth(l), `line too wide: "${l}"`).toBeLessThanOrEqual(80);
      expect(ls[0]).toMatch(/^backplane ctx test/);
      expect(ls[1]).toMatch(/^nodes 4/);
      expect(ls[22]).toMatch(/\? help|q quit|help/);
    });
  }

  it("truncates wide cells with an ellipsis instead of wrapping", async () => {
    const r = renderDash({ columns: 80, rows: 24 });
    feed(r.store, wideCluster());
    const frame = await r.waitForFrame("gpu-node");
    expect(frame).toMatch(/gpu-node-with-a-very-l\S*…/);
    expect(frame).not.toContain("gpu-node-with-a-very-long-name-0001");
    await r.press("3");
    const ops = await r.waitForFrame("Operations");
    expect(ops).not.toContain("second line");
    expect(ops).toMatch(/x{10,}…/);
  });

  it("redraws on resize: more columns appear at 120×40, and the frame follows the new height", async () => {
    const r = renderDash({ columns: 80, rows: 24 });
    feed(r.store, smallCluster());
    let frame = await r.waitForFrame("gpu-01");
    expect(frame).not.toContain("LABELS");
    await r.resize(120, 40);
    frame = await r.waitForFrame("LABELS", "the wide column after resize");
    expect(lines(frame)).toHaveLength(39);
    expect(frame).toContain("rack=1");
    await r.resize(80, 24);
    frame = await r.waitForFrame((f) => !f.includes("LABELS"));
    expect(lines(frame)).toHaveLength(23);
  });

  it("below 60×16 says how big it needs to be, and q still quits", async () => {
    const r = renderDash({ columns: 50, rows: 12 });
    const frame = await r.waitForFrame("Terminal too small");
    expect(frame).toContain("need 60×16, have 50×12");
    await r.press("q");
    expect(r.quits).toBe(1);
  });
});

/** Four nodes with names as long as real hosts', metas pointing at long concrete names. */
function demoLikeCluster() {
  const ids = ["worker-gpu-0001", "worker-gpu-0002", "worker-rocm-001", "worker-cpu-0001"];
  const meta = (concrete: string) =>
    installed("llama-cpp", "", { isMeta: true, metadata: { name: "llama-cpp", meta_backend_for: concrete } });
  return {
    nodes: ids.map((id) => node(id, { capability: id.includes("rocm") ? "amd-rocm-6" : "nvidia-cuda-12" })),
    inventories: [
      inventory(ids[0]!, [meta("cuda12-llama-cpp"), installed("cuda12-llama-cpp", "1.0.0")]),
      inventory(ids[1]!, [meta("cuda12-llama-cpp"), installed("cuda12-llama-cpp", "1.0.0")]),
      inventory(ids[2]!, [meta("rocm-llama-cpp"), installed("rocm-llama-cpp", "1.0.0")]),
      inventory(ids[3]!, [meta("cpu-llama-cpp"), installed("cpu-llama-cpp", "1.0.0")]),
    ],
    ops: ids.map((id, i) => op(id, { id: `op-q-${i}`, backend: "cuda12-llama-cpp", kind: "upgrade" })),
    ids,
  };
}

describe("narrow and wide terminals", () => {
  it("at 60×16 node and op names keep their width; secondary columns drop first", async () => {
    const c = demoLikeCluster();
    const r = renderDash({ columns: 60, rows: 16 });
    feed(r.store, c);
    let f = await r.waitForFrame("worker-cpu-0001", "the nodes, whole");
    for (const id of c.ids) expect(f).toContain(id);
    expect(f).toMatch(/STATUS/);
    expect(f).not.toMatch(/VRAM|DISK/);
    for (const l of lines(f)) expect(displayWidth(l)).toBeLessThanOrEqual(60);
    await r.press("3");
    f = await r.waitForFrame("Operations");
    // One fan-out: its row and a child per node, every name whole.
    expect(f).toContain("upgrade cuda12-llama-cpp ×4");
    for (const id of c.ids) expect(f).toContain(`└ ${id}`);
    expect(f).toMatch(/STATE/);
  });

  it("at 120 columns widths follow content: the backend column is not stretched while node cells are cut", async () => {
    const c = demoLikeCluster();
    const r = renderDash({ columns: 120, rows: 30 });
    feed(r.store, c);
    await r.waitForFrame("worker-cpu-0001");
    await r.press("2");
    const f = await r.waitForFrame("→cuda12-llama-cpp", "meta targets whole");
    expect(f).toContain("→rocm-llama-cpp");
    expect(f).not.toMatch(/→cuda12-ll…/);
    const header = lines(f).find((l) => l.includes("BACKEND"))!;
    // The name column is as wide as its longest name (at least its minimum), not 70 columns.
    expect(header.indexOf("worker-cpu-0001") - header.indexOf("BACKEND")).toBe(21);
  });
});

describe("the header at 60 columns", () => {
  it("keeps the controller's liveness readable: the server and the context's name give way first", async () => {
    const r = renderDash({ columns: 60, rows: 16 });
    feed(r.store, smallCluster());
    r.store.getState().actions.setConn({ state: "connected", since: Date.now() - 200_000, attempts: 0 });
    r.store.setState({ controller: { leader: "ctl-a", seenAt: Date.now() - 75_000 } });
    const f = await r.waitForFrame("no controller for");
    expect(lines(f)[0]).toMatch(/^backplane\s+● connected \S+ │ ✗ no controller for 1m1\ds$/);
  });
});
