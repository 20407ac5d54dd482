import { describe, expect, it } from "vitest";
import { api, takePage, type Page } from "../../src/protocol/index.js";

const key = (r: { k: string }) => r.k;
const rows = (...ks: string[]) => ks.map((k) => ({ k }));

/** Every page of `all` in turn, as a client following `next` reads them. */
function pages<T>(all: readonly T[], keyOf: (r: T) => string, limit: number, maxBytes?: number): T[][] {
  const out: T[][] = [];
  let after: string | undefined;
  for (;;) {
    const p: Page<T, string> = takePage(all, keyOf, { after, limit, maxBytes });
    out.push(p.rows);
    if (p.next === undefined) return out;
    after = p.next;
  }
}

describe("takePage", () => {
  it("sorts by key and cuts at limit, with next the page's last key and total the whole list", () => {
    const all = rows("c", "a", "e", "b", "d");
    expect(takePage(all, key, { limit: 2 })).toEqual({ rows: rows("a", "b"), next: "b", total: 5 });
    expect(takePage(all, key, { after: "b", limit: 2 })).toEqual({
      rows: rows("c", "d"),
      next: "d",
      total: 5,
    });
    expect(takePage(all, key, { after: "d", limit: 2 })).toEqual({ rows: rows("e"), total: 5 });
  });

  it("has no next when the page reaches the last row exactly", () => {
    expect(takePage(rows("a", "b"), key, { limit: 2 })).toEqual({ rows: rows("a", "b"), total: 2 });
    expect(takePage(rows(), key, { limit: 2 })).toEqual({ rows: [], total: 0 });
  });

  it("takes the keys after a cursor that is no longer in the list (its row was deleted)", () => {
    expect(takePage(rows("a", "c", "d"), key, { after: "b", limit: 10 }).rows).toEqual(rows("c", "d"));
    expect(takePage(rows("a", "c"), key, { after: "z", limit: 10 })).toEqual({ rows: [], total: 2 });
  });

  it("orders by code unit, the order a cursor compares in (not the locale's)", () => {
    const all = rows("node-b", "Node-a", "node_a", "node-A");
    expect(pages(all, key, 1).flat().map(key)).toEqual(["Node-a", "node-A", "node-b", "node_a"]);
  });

  it("returns every row exactly once across pages, for any page size", () => {
    const all = Array.from({ length: 257 }, (_, i) => ({ k: `n${String((i * 37) % 257).padStart(3, "0")}` }));
    for (const limit of [1, 2, 10, 100, 256, 257, 1_000]) {
      const got = pages(all, key, limit);
      expect(got.flat().map(key)).toEqual(all.map(key).sort());
      expect(got).toHaveLength(Math.ceil(257 / limit));
    }
  });

  it("cuts a page short at maxBytes of JSON, but always takes one row so paging moves on", () => {
    const big = (k: string) => ({ k, pad: "x".repeat(100) });
    const size = Buffer.byteLength(JSON.stringify(big("a")));
    const all = ["a", "b", "c", "d", "e"].map(big);
    expect(takePage(all, key, { limit: 10, maxBytes: size * 2 }).rows.map(key)).toEqual(["a", "b"]);
    expect(takePage(all, key, { limit: 10, maxBytes: 1 }).rows.map(key)).toEqual(["a"]);
    expect(pages(all, key, 10, size * 2).map((p) => p.map(key))).toEqual([["a", "b"], ["c", "d"], ["e"]]);
  });

  it("pages numeric keys (rollout positions) by number, not as strings", () => {
    const all = [10, 9, 2, 1, 100].map((i) => ({ i }));
    const p = takePage(all, (r) => r.i, { after: 2, limit: 2 });
    expect(p).toEqual({ rows: [{ i: 9 }, { i: 10 }], next: 10, total: 5 });
  });
});

describe("paged API schemas", () => {
  it("default the limit and bound it", () => {
    expect(api["nodes.list"].req.parse({})).toEqual({ limit: 1_000 });
    expect(api["ops.list"].req.parse({ after: "n1.op-1" })).toMatchObject({ limit: 1_000, after: "n1.op-1" });
    expect(api["nodes.list"].req.safeParse({ limit: 1_001 }).success).toBe(false);
    expect(api["nodes.list"].req.safeParse({ limit: 0 }).success).toBe(false);
    expect(api["rollouts.get"].req.parse({ id: "ro-mq3x0c00-ab12", limit: 0 })).toMatchObject({ limit: 0 });
    expect(api["rollouts.get"].req.safeParse({ id: "ro-mq3x0c00-ab12", after: "3" }).success).toBe(false);
  });
});
