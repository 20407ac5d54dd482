import { describe, expect, it } from "vitest";
import {
  backendIndex,
  backendNodeRows,
  matrixFits,
  matrixRows,
  nodeBackendRows,
  summaryRows,
  upgradeIndex,
} from "../../../src/format/backends.js";
import { nodeRows, RECORD_STALE_AFTER_MS, STALE_AFTER_MS } from "../../../src/format/nodes.js";
import { aggregateProgress, groupOps, opRows, progressText } from "../../../src/format/ops.js";
import {
  installed,
  inventory,
  NOW,
  node,
  op,
  progress,
  smallCluster,
  upgrade,
  upgradeIndexOf,
} from "../helpers/cluster.js";

const byKey = <T extends { nodeId?: string; id?: string }>(xs: T[], k: (x: T) => string) =>
  new Map(xs.map((x) => [k(x), x]));

describe("node rows", () => {
  const rowOf = (n: ReturnType<typeof node>, hb?: ReturnType<typeof node>["last"]) =>
    nodeRows({
      nodes: new Map([[n.id, n]]),
      heartbeats: new Map(hb ? [[n.id, hb]] : []),
      inventory: new Map(),
      ops: new Map(),
      now: NOW,
    })[0]!;
  it("shows status as glyph and word, and marks a silent node stale with its age", () => {
    const f = smallCluster();
    const rows = nodeRows({
      nodes: byKey(f.nodes!, (n) => n.id!),
      heartbeats: new Map(),
      inventory: new Map(f.inventories!.map((i) => [i.nodeId, i])),
      ops: new Map(f.ops!.map((o) => [o.id, o])),
      now: NOW,
    });
    const gpu2 = rows.find((r) => r.key === "gpu-02")!;
    expect(gpu2.cells.status!.text).toBe("! unhealthy");
    expect(gpu2.dim).toBe(true);
    expect(gpu2.cells.seen!.text).toBe("20s");
    const gpu1 = rows.find((r) => r.key === "gpu-01")!;
    expect(gpu1.dim).toBe(false);
    expect(gpu1.cells.ops!.text).toBe("1");
    expect(gpu1.cells.backends!.text).toBe("2");
    expect(STALE_AFTER_MS).toBe(15_000);
  });
  it("judges a healthy node by its record alone with the record's refresh interval in mind, and by its heartbeat once heard", () => {
    // The controller rewrites a live node's record every 30 s: 20 s old is not stale by itself.
    const recordOnly = rowOf(node("gpu-01", { status: "healthy", seenAgoMs: 20_000 }));
    expect(recordOnly.dim).toBe(false);
    expect(recordOnly.cells.seen!.tone).toBeUndefined();
    expect(RECORD_STALE_AFTER_MS).toBe(45_000);
    expect(rowOf(node("gpu-01", { status: "healthy", seenAgoMs: 46_000 })).dim).toBe(true);
    // A heartbeat heard 20 s ago is three missed ones: stale.
    const heard = node("gpu-01", { status: "healthy", seenAgoMs: 25_000 });
    expect(rowOf(heard, { ...heard.last, sentAt: NOW - 20_000 }).dim).toBe(true);
  });
  it("marks a node stale itself once its last heartbeat is older than the offline threshold, whatever the record says", () => {
    const silent = rowOf(node("gpu-01", { status: "healthy", seenAgoMs: 75_000 }));
    expect(silent.cells.status!.text).toBe("✗ stale");
    expect(silent.cells.status!.tone).toBe("err");
    expect(silent.cells.seen!.text).toBe("1m15s");
    expect(silent.dim).toBe(true);
    expect(rowOf(node("d", { status: "draining", seenAgoMs: 61_000 })).cells.status!.text).toBe("✗ stale");
    // Within the threshold the record's word stands; an offline record already says it.
    expect(rowOf(node("h", { seenAgoMs: 59_000 })).cells.status!.text).toBe("✓ healthy");
    expect(rowOf(node("o", { status: "offline", seenAgoMs: 600_000 })).cells.status!.text).toBe("✗ offline");
    // A fresh heartbeat on the subject counts even when the record's copy is old.
    const old = node("f", { seenAgoMs: 120_000 });
    expect(rowOf(old, { ...old.last, sentAt: NOW - 2_000 }).cells.status!.text).toBe("✓ healthy");
  });
  it("prefers a fresher heartbeat from the subject over the record's copy", () => {
    const n = node("gpu-01", { seenAgoMs: 60_000 });
    const hb = { ...n.last, sentAt: NOW - 1_000, disk: { freeBytes: 1024, totalBytes: 1e12 } };
    const [r] = nodeRows({
      nodes: new Map([["gpu-01", n]]),
      heartbeats: new Map([["gpu-01", hb]]),
      inventory: new Map(),
      ops: new Map(),
      now: NOW,
    });
    expect(r!.cells.seen!.text).toBe("1s");
    expect(r!.cells.disk!.text).toBe("1.0K");
    expect(r!.cells.disk!.tone).toBe("warn");
  });
});

describe("backend rows", () => {
  const invs = new Map(
    [
      inventory("a", [installed("llama-cpp", "1.0.0"), installed("whisper-development", "0.1.0")]),
      inventory("b", [installed("llama-cpp", "1.0.0")]),
      inventory("c", [
        installed("llama-cpp", "0.9.0"),
        {
          ...installed("llama", ""),
          isMeta: true,
          generation: null,
          metadata: { name: "llama", meta_backend_for: "llama-cpp" },
        },
      ]),
    ].map((i) => [i.nodeId, i]),
  );
  const idx = upgradeIndexOf([upgrade("llama-cpp", "1.1.0", ["a"], ["c"])]);

  it("puts the ↑ badge where an upgrade is available and ≠ where a node drifted", () => {
    const rows = matrixRows(backendIndex(invs).values(), ["a", "b", "c"], idx);
    const llama = rows.find((r) => r.key === "llama-cpp")!;
    expect(llama.cells["n:a"]!.text).toBe("1.0.0↑");
    expect(llama.cells["n:b"]!.text).toBe("1.0.0");
    expect(llama.cells["n:c"]!.text).toBe("0.9.0≠");
    expect(rows.find((r) => r.key === "whisper-development")!.cells.backend!.text).toContain("(dev)");
    expect(rows.find((r) => r.key === "llama")!.cells["n:c"]!.text).toBe("→llama-cpp");
  });
  it("indexes an upgrade keyed by a meta under each node's concrete too", () => {
    const meta = upgradeIndexOf([
      { ...upgrade("llama", "2.0.0", []), nodes: [{ nodeId: "a", concrete: "llama-cpp", upgradable: true }] },
    ]);
    expect(meta.upgradable.get("llama-cpp")?.has("a")).toBe(true);
    expect(meta.available.get("llama-cpp")).toBe("2.0.0");
  });
  it("summarises per backend when the cluster is too wide for a matrix", () => {
    expect(matrixFits(3, 80)).toBe(true);
    expect(matrixFits(500, 200)).toBe(false);
    const rows = summaryRows(backendIndex(invs).values(), 3, idx);
    const llama = rows.find((r) => r.key === "llama-cpp")!;
    expect(llama.cells.nodes!.text).toBe("3/3");
    expect(llama.cells.version!.text).toBe("1.0.0 +1");
    expect(llama.cells.upgrade!.text).toBe("↑ 1.1.0 ×1");
    expect(llama.cells.drift!.text).toBe("≠ 1");
  });
  it("drills into one backend per node", () => {
    const rows = backendNodeRows(backendIndex(invs).get("llama-cpp"), new Map([["a", node("a")]]), idx);
    expect(rows.map((r) => r.key)).toEqual(["a", "b", "c"]);
    expect(rows[0]!.cells.upgrade!.text).toBe("↑ 1.1.0");
    expect(rows[1]!.cells.status!.text).toBe("? unknown");
  });

  it("tags a backend the same on a node's page as in the matrix", () => {
    const devMeta = installed("cuda-development", "", { isMeta: true, generation: null });
    devMeta.metadata.meta_backend_for = "cuda-12-development";
    const inv = inventory("a", [devMeta]);
    const [onNode] = nodeBackendRows(inv, upgradeIndex(new Map(), new Map()));
    const [inMatrix] = matrixRows(
      backendIndex(new Map([["a", inv]])).values(),
      ["a"],
      upgradeIndex(new Map(), new Map()),
    );
    expect(onNode!.cells.backend!.text).toBe("cuda-development (meta,dev)");
    expect(inMatrix!.cells.backend!.text).toBe(onNode!.cells.backend!.text);
  });
});

describe("op rows", () => {
  it("groups a fan-out, lists failed ops until dismissed, keeps finished ones for a moment", () => {
    const ops = [
      op("a", { id: "o1", createdAt: NOW - 3000 }),
      op("b", { id: "o2", createdAt: NOW - 2000 }),
      op("c", { id: "o3", createdAt: NOW - 2500, state: "queued", phase: undefined }),
      op("a", { id: "o4", backend: "vllm", state: "failed", error: "boom" }),
      op("a", {
        id: "o5",
        backend: "vllm",
        state: "failed",
        error: "old",
        dismissed: true,
        createdAt: NOW - 900_000,
      }),
      op("b", { id: "o6", state: "succeeded", createdAt: NOW - 900_000, finishedAt: NOW - 60_000 }),
      op("c", {
        id: "o7",
        backend: "piper",
        state: "succeeded",
        createdAt: NOW - 900_000,
        finishedAt: NOW - 2_000,
      }),
    ];
    const groups = groupOps(ops, NOW).filter((g) => g.ops[0]!.id !== "o7");
    expect(groupOps(ops, NOW).some((g) => g.ops[0]!.id === "o7")).toBe(true);
    expect(opRows(groupOps([ops[6]!], NOW))[0]).toMatchObject({ dim: true });
    expect(progressText(undefined, ops[6], 14).bar).toMatch(/100%$/);
    expect(groups.map((g) => g.ops.map((o) => o.id))).toEqual([["o1", "o3", "o2"], ["o4"]]);
    const rows = opRows(groups);
    expect(rows[0]!.cells.op!.text).toBe("install llama-cpp ×3");
    expect(rows[0]!.cells.state!.text).toBe("▶2 ○1");
    expect(rows[0]!.children!.map((c) => c.cells.op!.text)).toEqual(["a", "c", "b"]);
    expect(rows[1]!.tail).toMatchObject({ from: "progress", text: "boom" });
  });
  it("keeps ops that ended while Operations was open until keepMs, or all of them, with their finish time", () => {
    const since = NOW - 120_000;
    const ended = (id: string, finishedAgo: number, state: "succeeded" | "cancelled" = "succeeded") =>
      op("a", {
        id,
        state,
        createdAt: NOW - finishedAgo - 65_000,
        startedAt: NOW - finishedAgo - 65_000,
        finishedAt: NOW - finishedAgo,
      });
    const ops = [
      ended("before-open", 180_000),
      ended("while-open", 60_000),
      ended("too-old", 100_000, "cancelled"),
      op("a", { id: "dismissed", state: "failed", dismissed: true, finishedAt: NOW - 1_000 }),
    ];
    const ids = (keep: Parameters<typeof groupOps>[2]) =>
      groupOps(ops, NOW, keep)
        .flatMap((g) => g.ops.map((o) => o.id))
        .sort();
    expect(ids({})).toEqual([]);
    expect(ids({ since, keepMs: 90_000 })).toEqual(["while-open"]);
    expect(ids({ since, keepMs: 30_000 })).toEqual([]);
    expect(ids({ since: null, keepMs: 90_000 })).toEqual([]);
    expect(ids({ all: true })).toEqual(["before-open", "dismissed", "too-old", "while-open"]);
    const row = opRows(groupOps([ops[1]!], NOW, { all: true }), NOW)[0]!;
    expect(row.tail).toMatchObject({ from: "progress", tone: "muted" });
    expect(row.tail!.text).toMatch(/^finished \d\d:\d\d:\d\d, took 1m05s$/);
    // Just ended: the full bar shows first, for the linger.
    expect(opRows(groupOps([ops[1]!], NOW, { all: true }), NOW - 60_000 + 2_000)[0]!.tail).toBeUndefined();
  });

  it("formats live progress and sums a fan-out", () => {
    const o = op("a");
    const p = progress(o, 50 * 1024 * 1024, 200 * 1024 * 1024);
    expect(progressText(p, o, 14)).toMatchObject({ bytes: "50M/200M", rate: "5.0M/s", eta: "30s" });
    const agg = aggregateProgress(
      [p, progress(op("b"), 150 * 1024 * 1024, 200 * 1024 * 1024), undefined],
      14,
    );
    expect(agg.bytes).toBe("200M/400M");
    expect(agg.bar).toMatch(/50%$/);
    expect(agg.rate).toBe("10M/s");
  });
});
