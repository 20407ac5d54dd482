import { describe, expect, it } from "vitest";
import { nodeRows } from "../../../src/format/nodes.js";
import type { Row } from "../../../src/format/table.js";
import type { Heartbeat, NodeRecord } from "../../../src/protocol/index.js";
import { NodeRowCache, type NodeRowSources } from "../../../src/views/nodes/row-cache.js";
import { inventory, installed, node, NOW, op } from "../helpers/cluster.js";

const invA = inventory("a", [installed("llama-cpp", "1.0.0")]);
const opA = op("a", { id: "op-a" });
const sources = (nodes: NodeRecord[], heartbeats: Heartbeat[] = []): NodeRowSources => ({
  nodes: new Map(nodes.map((n) => [n.id, n])),
  heartbeats: new Map(heartbeats.map((h) => [h.nodeId, h])),
  inventory: new Map([["a", invA]]),
  ops: new Map([["op-a", opA]]),
  unreadable: new Map(),
});
const texts = (r: Row) => Object.fromEntries(Object.entries(r.cells).map(([k, c]) => [k, c.text]));

describe("the Nodes view's row cache", () => {
  const a = node("a");
  const b = node("b", { status: "draining" });

  it("builds the rows nodeRows builds, less the age (drawn live), and hands back the same array while nothing changed", () => {
    const cache = new NodeRowCache();
    const src = sources([b, a]);
    const rows = cache.rowsAt(src, NOW);
    const expected = nodeRows({ ...src, now: NOW });
    expect(rows.map((r) => r.key)).toEqual(["a", "b"]);
    expect(rows.map(texts)).toEqual(expected.map((r) => ({ ...texts(r), seen: "" })));
    expect(rows.map((r) => r.cells.seen!.sort)).toEqual(expected.map((r) => r.cells.seen!.sort));
    expect(cache.lastSeen("a")).toBe(a.last.sentAt);
    expect(cache.rowsAt({ ...src }, NOW + 1_000)).toBe(rows);
  });

  it("keeps a row's cells on a heartbeat that only moves its time, and rebuilds the row when it shows something new", () => {
    const cache = new NodeRowCache();
    const first = cache.rowsAt(sources([a, b]), NOW);
    const later = { ...a.last, sentAt: NOW + 2_000 };
    const moved = cache.rowsAt(sources([a, b], [later]), NOW + 2_000);
    expect(moved).not.toBe(first);
    expect(moved[0]).not.toBe(first[0]);
    expect(moved[0]!.cells.disk).toBe(first[0]!.cells.disk);
    expect(moved[0]!.cells.seen!.sort).toBe(-(NOW + 2_000));
    expect(moved[1]).toBe(first[1]);
    expect(cache.lastSeen("a")).toBe(NOW + 2_000);

    const full = { ...later, sentAt: NOW + 3_000, disk: { freeBytes: 1024, totalBytes: 1e12 } };
    const rebuilt = cache.rowsAt(sources([a, b], [full]), NOW + 3_000);
    expect(rebuilt[0]!.cells.disk!.text).toBe("1.0K");
    expect(rebuilt[0]!.cells.disk!.tone).toBe("warn");
  });

  it("redraws a silent node as stale, then lost, when the clock alone crosses the thresholds", () => {
    const cache = new NodeRowCache();
    const src = sources([a], [a.last]);
    const fresh = cache.rowsAt(src, NOW);
    expect(fresh[0]!.dim).toBe(false);
    const stale = cache.rowsAt(src, a.last.sentAt + 16_000);
    expect(stale[0]!.dim).toBe(true);
    expect(stale[0]!.cells.seen!.tone).toBe("warn");
    expect(stale[0]!.cells.status!.text).toBe("✓ healthy");
    const lost = cache.rowsAt(src, a.last.sentAt + 61_000);
    expect(lost[0]!.cells.status!.text).toBe("✗ stale");
  });

  it("judges a healthy node known by its record alone against the record's refresh interval", () => {
    const cache = new NodeRowCache();
    const src = sources([a]);
    expect(cache.rowsAt(src, a.last.sentAt + 16_000)[0]!.dim).toBe(false);
    expect(cache.rowsAt(src, a.last.sentAt + 46_000)[0]!.dim).toBe(true);
  });

  it("follows nodes that come and go, and lists unreadable ones in name order", () => {
    const cache = new NodeRowCache();
    cache.rowsAt(sources([a, b]), NOW);
    const c = node("c");
    const src = { ...sources([c, a]), unreadable: new Map([["b2", "v: bad"]]) };
    const rows = cache.rowsAt(src, NOW);
    expect(rows.map((r) => r.key)).toEqual(["a", "b2", "c"]);
    expect(rows[1]!.tail!.text).toBe("record unreadable: v: bad");
    expect(cache.lastSeen("b")).toBeUndefined();
  });
});
