import { describe, expect, it } from "vitest";
import { admitReply } from "../../src/controller/admit-reply.js";
import { planView } from "../../src/controller/plan-view.js";
import { boundedResolutions } from "../../src/controller/resolve-reply.js";
import { planAdmission, type ClusterFacts } from "../../src/controller/decide/admission.js";
import type { PlannedMove, RolloutPlan } from "../../src/controller/decide/rollout.js";
import {
  AdmitReply,
  admittedMatcher,
  api,
  findableOps,
  DEFAULT_STRATEGY,
  firstRows,
  MAX_REQUEST_NODES,
  parseSelector,
  REPLY_BYTES,
  REPLY_ROWS,
  RolloutPlanView,
  type Admitted,
  type Refused,
  type Selector,
} from "../../src/protocol/index.js";
import { catalogOf, entry, installed, inventory, mapOf, node } from "./facts.js";

const MB = 1024 * 1024;
const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));
const id = (i: number, width = 5) => `node-${String(i).padStart(width, "0")}`;

describe("firstRows", () => {
  it("keeps every row that fits, in order, and says nothing was cut", () => {
    expect(firstRows([1, 2, 3])).toEqual({ rows: [1, 2, 3], cut: false });
  });

  it("stops at the row budget", () => {
    const r = firstRows(
      Array.from({ length: 10 }, (_, i) => i),
      4,
    );
    expect(r).toEqual({ rows: [0, 1, 2, 3], cut: true });
  });

  it("stops at the byte budget, whatever the row count allows", () => {
    // Each row is 12 bytes of JSON ("xxxxxxxxxx" with quotes) plus a comma.
    const r = firstRows(
      Array.from({ length: 10 }, () => "x".repeat(10)),
      100,
      2 + 13 * 3,
    );
    expect(r.rows).toHaveLength(3);
    expect(r.cut).toBe(true);
  });
});

describe("admitReply", () => {
  const admitted = (n: number, existing = (_i: number) => false): Admitted[] =>
    Array.from({ length: n }, (_, i) => ({
      nodeId: id(i),
      opId: `b-${i.toString(36)}`,
      existing: existing(i),
    }));

  it("lists every row when they fit, in node order, with the totals", () => {
    const a = admitted(3, (i) => i === 2);
    const refused: Refused[] = [{ nodeId: "x", error: "node x is draining" }];
    expect(admitReply(a, refused, "b")).toEqual({
      admitted: a,
      refused,
      counts: { admitted: 3, existing: 1, refused: 1 },
      batch: "b",
      truncated: false,
    });
  });

  it("at 20,000 nodes: the first rows, existing ops first, totals of all, under 1 MB", () => {
    const a = admitted(20_000, (i) => i % 5_000 === 4_999);
    const refused: Refused[] = Array.from({ length: 20_000 }, (_, i) => ({
      nodeId: id(i),
      error: `node ${id(i)}: ${"a long reason ".repeat(70)}`.slice(0, 1024),
    }));
    const r = admitReply(a, refused, "b");
    expect(r.counts).toEqual({ admitted: 20_000, existing: 4, refused: 20_000 });
    expect(r.truncated).toBe(true);
    expect(r.admitted.length).toBe(REPLY_ROWS);
    expect(r.admitted.slice(0, 4).map((x) => x.nodeId)).toEqual([id(4999), id(9999), id(14999), id(19999)]);
    expect(r.refused.length).toBeGreaterThan(0);
    expect(bytes(r.refused)).toBeLessThanOrEqual(REPLY_BYTES);
    expect(bytes({ ok: true, data: r })).toBeLessThan(MB);
    // What a client reads it as, and how it finds an op that is not listed.
    const read = AdmitReply.parse(JSON.parse(JSON.stringify(r)));
    const ours = admittedMatcher(read);
    expect(ours(`b-${(15_000).toString(36)}`)).toBe(true);
    expect(ours("op-someone-else")).toBe(false);
  });

  it("says which ops a caller can find: listed ones and new ones, not unlisted existing ones", () => {
    // Asked again: every op already running, only the first listed.
    const again = admitReply(
      admitted(20_000, () => true),
      [],
      "b2",
    );
    expect(findableOps(again)).toEqual({
      total: again.admitted.length,
      unlisted: 20_000 - again.admitted.length,
    });
    // Mixed: 4 existing (listed first), every new one found by its batch.
    const mixed = admitReply(
      admitted(20_000, (i) => i % 5_000 === 4_999),
      [],
      "b",
    );
    expect(findableOps(mixed)).toEqual({ total: 20_000, unlisted: 0 });
  });

  it("a reply from a controller that sent no totals is read with totals of its lists", () => {
    const r = AdmitReply.parse({ admitted: admitted(2, (i) => i === 0), refused: [] });
    expect(r.counts).toEqual({ admitted: 2, existing: 1, refused: 0 });
    expect(r.truncated).toBe(false);
  });
});

describe("request sizes", () => {
  it(`${MAX_REQUEST_NODES} node ids of 64 characters fit a 1 MB request; one more does not validate`, () => {
    const nodes = Array.from({ length: MAX_REQUEST_NODES }, (_, i) => `${"n".repeat(53)}${id(i, 6)}`);
    expect(nodes[0]).toHaveLength(64);
    const req = { backend: "llama-cpp", nodes, actor: "x".repeat(128) };
    expect(api["ops.upgrade"].req.safeParse(req).success).toBe(true);
    expect(bytes(req)).toBeLessThan(0.7 * MB);
    expect(api["ops.upgrade"].req.safeParse({ ...req, nodes: [...nodes, "one-more"] }).success).toBe(false);
  });

  it("a selector names every node in a few bytes", () => {
    expect(api["ops.upgrade"].req.safeParse({ backend: "llama-cpp", selector: "pool=main" }).success).toBe(
      true,
    );
    expect(api["ops.install"].req.safeParse({ backend: "llama-cpp", selector: "" }).success).toBe(true);
  });
});

describe("planAdmission by selector", () => {
  const sel = (s: string): Selector => {
    const p = parseSelector(s);
    if (!p.ok) throw new Error(p.error);
    return p.selector;
  };
  const labelled = (nodeId: string, labels: Record<string, string>) => {
    const n = node(nodeId);
    n.last.labels = labels;
    return n;
  };
  const facts = (): ClusterFacts => ({
    nodes: mapOf(
      labelled("a", { gpu: "h100" }),
      labelled("b", { gpu: "h100" }),
      labelled("c", { gpu: "a100" }),
    ),
    inventories: mapOf(inventory("a", [installed("foo")]), inventory("c", [installed("foo")])),
    activeOps: [],
    catalog: catalogOf(entry("foo", { uri: "r/foo:1", version: "2" })),
  });
  const planned = (r: ReturnType<typeof planAdmission>) => (r.ok ? r.plans.map((p) => p.nodeId) : r);

  it("an upgrade takes the matching nodes that have the backend (one without it is no refusal)", () => {
    expect(
      planned(planAdmission({ kind: "upgrade", backend: "foo", selector: sel("gpu=h100") }, facts())),
    ).toEqual(["a"]);
  });

  it("an install takes every matching node; the empty selector matches every node", () => {
    expect(
      planned(planAdmission({ kind: "install", backend: "foo", selector: sel("gpu=h100") }, facts())),
    ).toEqual(["a", "b"]);
    expect(planned(planAdmission({ kind: "install", backend: "foo", selector: sel("") }, facts()))).toEqual([
      "a",
      "b",
      "c",
    ]);
  });

  it("says which: no node matches, or none of the matches has the backend", () => {
    expect(planAdmission({ kind: "upgrade", backend: "foo", selector: sel("gpu=v100") }, facts())).toEqual({
      ok: false,
      code: "not_found",
      field: "selector",
      error: "no node matches the selector gpu=v100",
    });
    const b = planAdmission(
      { kind: "delete", backend: "foo", selector: sel("gpu=h100,!zone") },
      {
        ...facts(),
        inventories: mapOf(inventory("c", [installed("foo")])),
      },
    );
    expect(b).toMatchObject({ ok: false, field: "selector" });
    expect(!b.ok && b.error).toBe("no node matching the selector gpu=h100,!zone has foo installed (2 match)");
  });
});

describe("planView", () => {
  const move = (i: number): PlannedMove => ({
    nodeId: id(i),
    concrete: "foo",
    from: { version: i % 10 === 0 ? "0.9.0" : "1.0.0", generation: "g1" },
    to: { version: "2.0.0" },
  });
  const plan = (n: number, skipped: number): RolloutPlan => {
    const sizes = [1, Math.ceil(n / 10) - 1, Math.ceil(n / 2) - Math.ceil(n / 10), n - Math.ceil(n / 2)];
    let next = 0;
    return {
      backend: "foo",
      galleryVersion: "2.0.0",
      builds: {},
      byCapability: {},
      targeting: { kind: "installed" },
      strategy: DEFAULT_STRATEGY,
      waves: sizes.map((s) => Array.from({ length: s }, () => move(next++))),
      skipped: Array.from({ length: skipped }, (_, i) => ({
        nodeId: id(n + i),
        skip: i % 3 === 0 ? ("held" as const) : ("offline" as const),
        why: `why ${i}`,
      })),
    };
  };

  it("a small plan is listed whole", () => {
    const v = planView(plan(20, 2));
    expect(v.truncated).toBe(false);
    expect(v.waves.flat()).toHaveLength(20);
    expect(v.waveSizes).toEqual([1, 1, 8, 10]);
    expect(v.skippedBy).toEqual([
      { skip: "held", nodes: 1, first: [id(20)] },
      { skip: "offline", nodes: 1, first: [id(21)] },
    ]);
  });

  it("at 20,000 nodes: totals of all, the first of each wave, under 1 MB", () => {
    const v = planView(plan(20_000, 3_000));
    expect(v.truncated).toBe(true);
    expect(v.waveSizes).toEqual([1, 1_999, 8_000, 10_000]);
    // In wave order: node 0 (wave 1) runs 0.9.0.
    expect(v.from).toEqual([
      { version: "0.9.0", nodes: 2_000 },
      { version: "1.0.0", nodes: 18_000 },
    ]);
    expect(v.to).toEqual([{ version: "2.0.0", nodes: 20_000 }]);
    expect(v.skippedCount).toBe(3_000);
    expect(v.skippedBy.map((s) => [s.skip, s.nodes, s.first.length])).toEqual([
      ["offline", 2_000, 8],
      ["held", 1_000, 8],
    ]);
    expect(v.waves.map((w) => w.length)).toEqual([1, 250, 250, 250]);
    expect(v.skipped.length).toBeLessThanOrEqual(REPLY_ROWS);
    expect(bytes({ ok: true, data: { plan: v } })).toBeLessThan(MB);
    // Read back by a client, the totals stay those of the whole plan.
    expect(RolloutPlanView.parse(JSON.parse(JSON.stringify(v))).waveSizes).toEqual(v.waveSizes);
  });

  it("a plan from a controller that sent no totals is read with totals of its lists", () => {
    const whole = plan(20, 1);
    const v = RolloutPlanView.parse(JSON.parse(JSON.stringify(whole)));
    expect(v.waveSizes).toEqual([1, 1, 8, 10]);
    expect(v.skippedCount).toBe(1);
    expect(v.from).toEqual([
      { version: "0.9.0", nodes: 2 },
      { version: "1.0.0", nodes: 18 },
    ]);
  });
});

describe("boundedResolutions", () => {
  it("counts every node by capability and lists the first", () => {
    const all = Array.from({ length: 20_000 }, (_, i) =>
      i % 4 === 0
        ? { nodeId: id(i), capability: "nvidia-cuda-12", concrete: "cuda12-foo" }
        : i === 1
          ? { nodeId: id(i), error: `unknown node ${id(i)}` }
          : { nodeId: id(i), capability: "default", error: "no build for default" },
    );
    const r = boundedResolutions(all);
    expect(r.total).toBe(20_000);
    expect(r.truncated).toBe(true);
    expect(r.nodes.length).toBeLessThanOrEqual(REPLY_ROWS);
    expect(r.byCapability).toEqual([
      { capability: "default", nodes: 14_999, error: "no build for default" },
      { capability: "nvidia-cuda-12", nodes: 5_000, concrete: "cuda12-foo" },
      { nodes: 1 },
    ]);
    expect(bytes(r)).toBeLessThan(MB);
  });
});
