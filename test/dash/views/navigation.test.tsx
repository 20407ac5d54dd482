import { afterEach, describe, expect, it } from "vitest";
import { COMMAND_IDS } from "../../../src/views/registry.js";
import { feed, NOW, node, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

/**
 * The row shows a heartbeat age of `seenAgo` seconds counted from the fixtures' clock, which was
 * read when the file loaded: on a loaded machine the render comes seconds later.
 */
function expectAge(row: string, seenAgo: number): void {
  const [, min, sec] = /(\d+)m(\d\d)s/.exec(row) ?? [];
  const age = Number(min) * 60 + Number(sec);
  expect(age).toBeGreaterThanOrEqual(seenAgo);
  expect(age).toBeLessThanOrEqual(seenAgo + Math.ceil((Date.now() - NOW) / 1000));
}

afterEach(unmountAll);

function rowOrder(frame: string, names: string[]): string[] {
  return names
    .map((n) => ({ n, i: frame.indexOf(n) }))
    .filter((x) => x.i >= 0)
    .sort((a, b) => a.i - b.i)
    .map((x) => x.n);
}

describe("keys typed in one burst", () => {
  it("each key reaches the screen the key before it opened (a view switch, then a move in that view)", async () => {
    const r = renderDash({ columns: 100, rows: 30 });
    feed(r.store, smallCluster());
    await r.waitForFrame(/Nodes \[1\//);
    // One chunk, as from a fast typist, a paste or tmux: switch to Operations, move down there.
    await r.press("3j");
    const f = await r.waitForFrame(/Operations \[2\//, "the second op selected");
    expect(f).not.toContain("Nodes [");
    await r.press("1");
    expect(await r.waitForFrame(/Nodes \[/)).toMatch(/Nodes \[1\//);
  });
});

describe("Nodes view", () => {
  it("shows each status as a glyph and a word, the selection as a marker", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    const f = await r.waitForFrame("gpu-02");
    // Natural name order until a sort is chosen.
    expect(f).toMatch(/› ✓ healthy\s+cpu-01[^\n]*\n\s+✓ healthy\s+gpu-01[^\n]*\n\s+! unhealthy\s+gpu-02/);
    await r.press("j");
    expect(r.lastFrame()).toMatch(/› ✓ healthy\s+gpu-01/);
    await r.press("down", "down", "down");
    expect(r.lastFrame()).toMatch(/› ! unhealthy\s+gpu-02/);
    await r.press("k");
    expect(r.lastFrame()).toMatch(/› ✓ healthy\s+gpu-01/);
    await r.press("g");
    expect(r.lastFrame()).toMatch(/› ✓ healthy\s+cpu-01/);
  });

  it("filters with /, narrows as you type, keeps the filter on enter and clears it with esc", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    await r.waitForFrame("cpu-01");
    await r.press("/");
    await r.type("gpu");
    let f = await r.waitForFrame("filter: gpu");
    expect(f).toContain("/gpu");
    expect(f).not.toContain("cpu-01");
    expect(f).toContain("[1/2 of 3]");
    await r.press("enter");
    f = r.lastFrame();
    expect(f).not.toContain("/gpu");
    expect(f).not.toContain("cpu-01");
    await r.press("/");
    expect(r.lastFrame()).toContain("filter: gpu");
    await r.type("!02");
    f = await r.waitForFrame("filter: !02");
    expect(rowOrder(f, ["gpu-01", "gpu-02", "cpu-01"])).toEqual(["cpu-01", "gpu-01"]);
    await r.press("esc");
    f = await r.waitForFrame((x) => x.includes("gpu-02") && x.includes("cpu-01"));
    expect(f).not.toContain("filter:");
    await r.press("/", "x", "y", "z", "enter");
    expect(await r.waitForFrame("no node matches")).toContain(
      'no node matches "xyz" (esc clears the filter)',
    );
    await r.press("esc");
    await r.waitForFrame("cpu-01");
  });

  it("cycles the sort column with s (marker in the header) and reverses with S", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    await r.waitForFrame("cpu-01");
    expect(rowOrder(r.lastFrame(), ["gpu-01", "gpu-02", "cpu-01"])).toEqual(["cpu-01", "gpu-01", "gpu-02"]);
    await r.press("s");
    let f = await r.waitForFrame("sort: STATUS▲");
    expect(f).toMatch(/STATUS▲/);
    expect(rowOrder(f, ["gpu-01", "gpu-02", "cpu-01"])[0]).toBe("gpu-02");
    await r.press("s");
    f = await r.waitForFrame("sort: NODE▲");
    expect(rowOrder(f, ["gpu-01", "gpu-02", "cpu-01"])).toEqual(["cpu-01", "gpu-01", "gpu-02"]);
    await r.press("S");
    f = await r.waitForFrame("sort: NODE▼");
    expect(f).toMatch(/NODE▼/);
    expect(rowOrder(f, ["gpu-01", "gpu-02", "cpu-01"])).toEqual(["gpu-02", "gpu-01", "cpu-01"]);
  });

  it("marks a node stale when its heartbeat is older than the offline threshold, though its record says healthy", async () => {
    const r = renderDash();
    feed(r.store, { nodes: [node("gpu-01"), node("gpu-09", { status: "healthy", seenAgoMs: 75_000 })] });
    let f = await r.waitForFrame("gpu-09");
    const row = f.split("\n").find((l) => l.includes("gpu-09"))!;
    expect(row).toMatch(/✗ stale\s+gpu-09/);
    expectAge(row, 75);
    expect(f.split("\n").find((l) => l.includes("gpu-01"))).toMatch(/✓ healthy/);
    // The header counts it as the row shows it, not as its record says.
    expect(f.split("\n")[1]).toMatch(/^nodes 2 ✓1 ✗1 stale │/);
    await r.press("j", "enter");
    f = await r.waitForFrame("Nodes › gpu-09");
    expect(f).toMatch(/✗ stale/);
    expect(f).not.toMatch(/✓ healthy/);
  });

  it("names a Backends matrix sort by the node's name, not the column's internal key", async () => {
    const r = renderDash({ columns: 100, rows: 30 });
    feed(r.store, smallCluster());
    await r.waitForFrame("cpu-01");
    await r.press("2");
    await r.waitForFrame("Backends");
    await r.press("s", "s");
    const f = await r.waitForFrame("sort: cpu-01▲");
    expect(f).not.toContain("n:cpu-01");
  });

  it("drills into a node with enter and comes back with esc, selection kept", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    await r.waitForFrame("gpu-02");
    await r.press("j", "j", "enter");
    let f = await r.waitForFrame("Nodes › gpu-02");
    expect(f).toContain("vllm-development (dev)");
    expect(f).toMatch(/STATUS\s+│\s+CAPABILITY/);
    await r.press("enter");
    f = await r.waitForFrame("Backends › llama-cpp");
    expect(f).toMatch(/gpu-01.*1\.0\.0.*↑ 1\.1\.0/);
    await r.press("esc");
    await r.waitForFrame("Nodes › gpu-02");
    await r.press("esc");
    f = await r.waitForFrame("Nodes [3/3]");
    expect(f).toMatch(/› ! unhealthy\s+gpu-02/);
  });

  it("keys that arrive in one chunk act in order on the latest selection", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    await r.waitForFrame("gpu-02");
    await r.press("jj\r");
    await r.waitForFrame("Nodes › gpu-02");
    await r.press("esc", "/");
    // A filter typed and chosen in one burst acts on the filtered rows.
    await r.press("cpu\r\r");
    await r.waitForFrame("Nodes › cpu-01");
  });

  it("jumps to a view by name with :, completes with tab, and says what it knows when the name is wrong", async () => {
    const r = renderDash();
    feed(r.store, smallCluster());
    await r.waitForFrame("gpu-01");
    await r.press(":");
    await r.type("back");
    await r.press("tab");
    expect(r.lastFrame()).toContain(":backends");
    await r.press("enter");
    await r.waitForFrame("Backends [");
    await r.press(":");
    await r.type("op");
    await r.press("enter");
    await r.waitForFrame("Operations [");
    await r.press(":");
    await r.type("pods");
    await r.press("enter");
    expect(await r.waitForFrame('no view "pods"')).toMatch(/try nodes, backends, ops/);
  });

  it("a dimmed stale node shows its heartbeat age, and a lost connection says so", async () => {
    const r = renderDash();
    feed(r.store, { nodes: [node("gpu-01"), node("gpu-77", { seenAgoMs: 95_000 })] });
    let f = await r.waitForFrame("gpu-77");
    expectAge(
      f.split("\n").find((l) => l.includes("gpu-77"))!,
      95,
    );
    r.store.getState().actions.setConn({
      state: "disconnected",
      since: Date.now() - 42_000,
      attempts: 9,
      reason: "connection refused: is nats-server running there?",
      server: "nats://10.0.0.9:4222",
    });
    f = await r.waitForFrame("lost for");
    expect(f.split("\n")[0]).toMatch(/✗ lost for 4\ds │ /);
    expect(f).toMatch(/! connection refused: is nats-server running there\? — nats:\/\/10\.0\.0\.9:4222/);
  });

  it("before any connection it says what it tries and why it fails, and shows no rows", async () => {
    const r = renderDash();
    r.store.getState().actions.setConn({
      state: "disconnected",
      since: NOW,
      attempts: 3,
      reason: "authorization refused (Authorization Violation)",
    });
    const f = await r.waitForFrame("cannot connect");
    expect(f.split("\n")[0]).toMatch(/nats:\/\/t:4222 ✗ cannot connect \(attempt 3\)/);
    expect(f).toMatch(/! authorization refused \(Authorization Violation\) — nats:\/\/t:4222, retrying/);
    expect(f).toContain("waiting for the nodes bucket");
  });
});

describe("Backends view", () => {
  it("shows one column per node with versions, ↑ where an upgrade is available, ≠ drift and dev variants", async () => {
    const r = renderDash({ stack: [{ id: "backends" }] });
    feed(r.store, smallCluster());
    const f = await r.waitForFrame("llama-cpp");
    expect(f).toMatch(/BACKEND\s+cpu-01\s+gpu-01\s+gpu-02/);
    expect(f).toMatch(/llama-cpp\s+0\.9\.0≠\s+1\.0\.0↑\s+1\.0\.0↑/);
    expect(f).toMatch(/vllm-development \(dev\)\s+·\s+·\s+0\.1\.0/);
  });

  it("summarises per backend when nodes do not fit as columns, and drills in per node", async () => {
    const r = renderDash({ stack: [{ id: "backends" }] });
    const f0 = smallCluster();
    for (let i = 0; i < 30; i++) f0.nodes!.push(node(`extra-${i}`));
    feed(r.store, f0);
    const f = await r.waitForFrame("33 nodes: enter for per-node versions");
    expect(f).toMatch(/llama-cpp\s+3\/33\s+1\.0\.0 \+1\s+↑ 1\.1\.0 ×2\s+≠ 1/);
    await r.press("enter");
    const d = await r.waitForFrame("Backends › llama-cpp");
    expect(d).toMatch(/cpu-01.*0\.9\.0.*≠ drift/);
    await r.press("esc");
    await r.waitForFrame("33 nodes");
  });
});

describe("Operations view", () => {
  it("shows live bars with bytes, rate and ETA, and failed ops with their error", async () => {
    const r = renderDash({ stack: [{ id: "ops" }] });
    const c = smallCluster();
    feed(r.store, c);
    const f = await r.waitForFrame("install whisper @gpu-01");
    expect(f).toMatch(/install whisper @gpu-01\s+▶ download\s+█+░+\s+25%\s+50M\/200M\s+5\.0M\/s\s+30s/);
    expect(f).toMatch(/install vllm @gpu-02\s+✗ failed\s+digest mismatch for layer sha256:abc/);
    const run = c.ops![0]!;
    r.store.getState().actions.applyBatch(
      [
        {
          kind: "progress",
          key: run.id,
          value: { ...c.progress![0]!, bytesDone: 150 * 2 ** 20, at: NOW + 1 },
        },
      ],
      1,
    );
    expect(await r.waitForFrame("150M/200M")).toMatch(/75%/);
  });

  it("groups a fan-out under one row with a row per node", async () => {
    const r = renderDash({ stack: [{ id: "ops" }] });
    const { op, progress } = await import("../helpers/cluster.js");
    const ops = ["gpu-01", "gpu-02", "gpu-03"].map((n, i) =>
      op(n, { id: `op-fan-${i}`, backend: "vllm", kind: "upgrade", createdAt: NOW - 5000 + i * 100 }),
    );
    feed(r.store, {
      nodes: [node("gpu-01")],
      ops,
      progress: [progress(ops[0]!, 100, 200), progress(ops[1]!, 50, 200)],
    });
    const f = await r.waitForFrame("upgrade vllm ×3");
    expect(f).toMatch(/upgrade vllm ×3\s+▶3/);
    expect(f).toMatch(/└ gpu-01\s+▶ download/);
    expect(f).toMatch(/└ gpu-03/);
    expect(f).toMatch(/upgrade vllm ×3.*150B\/400B/);
    // The count in the title is of lines, the group's and its nodes' alike.
    expect(f).toMatch(/Operations \[1\/4\]/);
  });
});

describe("Help view", () => {
  it("lists every command of the keymap with its keys, including overrides", async () => {
    const r = renderDash({ rows: 70, columns: 120, keys: { "op.cancel": ["C"] } });
    await r.press("?");
    const f = await r.waitForFrame("Help [");
    const { helpRows } = await import("../../../src/keymap/docs.js");
    const rows = helpRows(r.keymap);
    expect(rows).toHaveLength(COMMAND_IDS.length);
    for (const row of rows) expect(f).toContain(row.description.slice(0, 30));
    expect(f).toMatch(/│ C\s+│ cancel the selected operation/);
  });

  it("scrolls with j at 80×24 to the last key", async () => {
    const r = renderDash();
    await r.press("?");
    await r.waitForFrame("Help [");
    expect(r.lastFrame()).not.toContain("complete a view name");
    await r.press("G");
    expect(await r.waitForFrame("complete a view name")).not.toContain("help: every key");
  });
});
