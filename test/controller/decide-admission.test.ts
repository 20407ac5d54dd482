import { describe, expect, it } from "vitest";
import { planAdmission, type ClusterFacts } from "../../src/controller/decide/admission.js";
import { GalleryCatalog, parseGalleryIndex } from "../../src/gallery/index.js";
import { fixtureText } from "../gallery/fixture.js";
import { parseSelector, type RolloutPolicy } from "../../src/protocol/index.js";
import { catalogOf, entry, installed, inventory, mapOf, node, op } from "./facts.js";

const real = new GalleryCatalog(
  parseGalleryIndex(fixtureText(), { name: "localai", url: "file:///g.yaml" }).entries,
);

function facts(over: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    nodes: mapOf(
      node("gpu", "healthy", { capability: "nvidia-cuda-12" }),
      node("cpu", "healthy", { capability: "default" }),
      node("mac", "offline", { capability: "metal" }),
      node("new", "pending"),
      node("out", "draining"),
    ),
    inventories: mapOf(
      inventory("gpu", [
        installed("llama-cpp", { meta_backend_for: "cuda12-llama-cpp" }),
        installed(
          "cuda12-llama-cpp",
          { alias: "llama-cpp", digest: "sha256:old" },
          { previousGenerations: ["g0"] },
        ),
      ]),
      inventory("cpu", [
        installed("cpu-llama-cpp"),
        installed("llama-cpp-alias-row", { name: "cpu-llama-cpp" }),
      ]),
    ),
    activeOps: [],
    catalog: real,
    ...over,
  };
}

describe("planAdmission", () => {
  it("install resolves a meta per node capability and names both meta and concrete", () => {
    const r = planAdmission({ kind: "install", backend: "llama-cpp", nodes: ["gpu", "cpu", "mac"] }, facts());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plans.map((p) => [p.nodeId, p.action, p.action === "admit" ? p.target?.name : ""])).toEqual([
      ["gpu", "admit", "cuda12-llama-cpp"],
      ["cpu", "admit", "cpu-llama-cpp"],
      ["mac", "admit", "metal-llama-cpp"], // offline nodes get queued work
    ]);
    const gpu = r.plans[0]!;
    expect(gpu.action === "admit" && gpu.target).toEqual({
      name: "cuda12-llama-cpp",
      uri: "quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
      mirrors: ["localai/localai-backends:latest-gpu-nvidia-cuda-12-llama-cpp"],
      sha256: undefined,
      version: undefined,
      alias: "llama-cpp",
      galleryUrl: "file:///g.yaml",
      meta: "llama-cpp",
    });
  });

  it("refuses an unknown backend as a whole, naming the field", () => {
    expect(planAdmission({ kind: "install", backend: "nope", nodes: ["gpu"] }, facts())).toEqual({
      ok: false,
      code: "not_found",
      field: "backend",
      error: "unknown backend nope: not in any gallery",
    });
  });

  it("refuses per node: unknown, pending, draining, unresolvable", () => {
    const r = planAdmission(
      { kind: "install", backend: "cuda12-llama-cpp", nodes: ["ghost", "new", "out", "cpu", "gpu"] },
      facts(),
    );
    expect(r.ok && r.plans.map((p) => (p.action === "refuse" ? [p.code, p.error] : [p.action]))).toEqual([
      ["not_found", "unknown node ghost"],
      ["conflict", "node new is pending approval"],
      ["conflict", "node out is draining"],
      ["unresolvable", "cuda12-llama-cpp needs an nvidia node; this node's capability is default (node cpu)"],
      ["admit"],
    ]);
  });

  it("a meta with no build for the node's capability is refused with the reason", () => {
    const r = planAdmission({ kind: "install", backend: "vllm", nodes: ["cpu"] }, facts());
    expect(r.ok && r.plans[0]).toMatchObject({
      action: "refuse",
      code: "unresolvable",
      error: expect.stringMatching(/^vllm: no build for capability default .* \(node cpu\)$/),
    });
  });

  it("returns the active op for the same (node, backend, kind) and refuses a different kind", () => {
    const active = op("op-1", "gpu", "llama-cpp", {
      state: "running",
      target: { name: "cuda12-llama-cpp", uri: "x", mirrors: [] },
    });
    const f = facts({ activeOps: [active] });
    expect(planAdmission({ kind: "install", backend: "llama-cpp", nodes: ["gpu"] }, f)).toEqual({
      ok: true,
      plans: [{ nodeId: "gpu", action: "existing", opId: "op-1", concrete: "cuda12-llama-cpp" }],
    });
    // The concrete of an active meta install counts as the same backend.
    const same = planAdmission({ kind: "install", backend: "cuda12-llama-cpp", nodes: ["gpu"] }, f);
    expect(same.ok && same.plans[0]).toMatchObject({ action: "existing", opId: "op-1" });
    const del = planAdmission({ kind: "delete", backend: "llama-cpp", nodes: ["gpu"] }, f);
    expect(del.ok && del.plans[0]).toMatchObject({
      action: "refuse",
      code: "conflict",
      error: "an install of llama-cpp is already running on node gpu (op-1)",
    });
    // Another node is independent.
    const other = planAdmission({ kind: "install", backend: "llama-cpp", nodes: ["cpu"] }, f);
    expect(other.ok && other.plans[0]?.action).toBe("admit");
  });

  it("upgrade without nodes targets every node that has it; metas re-resolve, concretes keep their entry", () => {
    const r = planAdmission({ kind: "upgrade", backend: "llama-cpp" }, facts());
    expect(
      r.ok &&
        r.plans.map((p) => [
          p.nodeId,
          p.action === "admit" && p.target?.name,
          p.action === "admit" && p.target?.meta,
        ]),
    ).toEqual([["gpu", "cuda12-llama-cpp", "llama-cpp"]]);
    const c = planAdmission({ kind: "upgrade", backend: "cpu-llama-cpp" }, facts());
    expect(c.ok && c.plans.map((p) => [p.nodeId, p.action])).toEqual([["cpu", "admit"]]);
  });

  it("upgrade of a backend nobody has is not_found; on a node without it, refused", () => {
    expect(planAdmission({ kind: "upgrade", backend: "whisper" }, facts())).toMatchObject({
      ok: false,
      code: "not_found",
      error: "no node has whisper installed",
    });
    const r = planAdmission({ kind: "upgrade", backend: "llama-cpp", nodes: ["cpu"] }, facts());
    expect(r.ok && r.plans[0]).toMatchObject({
      action: "refuse",
      error: "llama-cpp is not installed on node cpu",
    });
  });

  it("alias rows do not count as installed", () => {
    const r = planAdmission({ kind: "delete", backend: "llama-cpp-alias-row", nodes: ["cpu"] }, facts());
    expect(r.ok && r.plans[0]).toMatchObject({ action: "refuse", code: "not_found" });
  });

  it("delete and rollback carry no target; rollback needs a previous generation", () => {
    const d = planAdmission({ kind: "delete", backend: "cuda12-llama-cpp" }, facts());
    expect(d.ok && d.plans).toEqual([{ nodeId: "gpu", action: "admit", target: undefined }]);
    const rb = planAdmission({ kind: "rollback", backend: "cuda12-llama-cpp", nodes: ["gpu"] }, facts());
    expect(rb.ok && rb.plans[0]).toMatchObject({ action: "admit" });
    const none = planAdmission({ kind: "rollback", backend: "cpu-llama-cpp", nodes: ["cpu"] }, facts());
    expect(none.ok && none.plans[0]).toMatchObject({ action: "refuse", error: /no previous generation/ });
    expect(planAdmission({ kind: "rollback", backend: "cpu-llama-cpp" }, facts())).toMatchObject({
      ok: false,
      field: "nodes",
    });
  });

  it.each([
    { generation: "g0", plan: { action: "admit" } },
    {
      generation: "g9",
      plan: {
        action: "refuse",
        code: "not_found",
        error: "node gpu keeps no generation g9 of cuda12-llama-cpp (kept: g0)",
      },
    },
    // The live generation is not a kept one: rolling back to it would change nothing.
    { generation: "g1", plan: { action: "refuse", code: "not_found", error: /keeps no generation g1/ } },
  ])("rollback to a chosen generation $generation: $plan.action", ({ generation, plan }) => {
    const r = planAdmission(
      { kind: "rollback", backend: "cuda12-llama-cpp", nodes: ["gpu"], generation },
      facts(),
    );
    expect(r.ok && r.plans[0]).toMatchObject({ nodeId: "gpu", ...plan });
  });

  it("an installed concrete that left the gallery, or became a meta, cannot be upgraded", () => {
    const cat = catalogOf(
      entry("flip", { capabilities: { default: "cpu-flip" } }),
      entry("cpu-flip", { uri: "r/x:1" }),
    );
    const f = facts({
      catalog: cat,
      inventories: mapOf(inventory("cpu", [installed("flip"), installed("gone")])),
    });
    const a = planAdmission({ kind: "upgrade", backend: "flip", nodes: ["cpu"] }, f);
    expect(a.ok && a.plans[0]).toMatchObject({ action: "refuse", error: /flip is now a meta backend/ });
    const b = planAdmission({ kind: "upgrade", backend: "gone", nodes: ["cpu"] }, f);
    expect(b.ok && b.plans[0]).toMatchObject({ action: "refuse", error: /gone is not in any gallery/ });
  });

  it("deduplicates repeated node ids", () => {
    const r = planAdmission({ kind: "install", backend: "llama-cpp", nodes: ["cpu", "cpu"] }, facts());
    expect(r.ok && r.plans).toHaveLength(1);
  });
});

describe("planAdmission with holds and pins", () => {
  const sel = (source: string) => {
    const s = parseSelector(source);
    if (!s.ok) throw new Error(s.error);
    return s.selector;
  };
  const policy: RolloutPolicy = {
    holds: [
      { nodeId: "gpu", reason: "debugging" },
      { nodeId: "cpu", backend: "whisper" },
    ],
    pins: [
      { backend: "cpu-llama-cpp", version: "1.0.0" },
      { backend: "llama-cpp", version: "1.0.0", selector: sel("gpu=h100") },
    ],
  };
  const refusals = (r: ReturnType<typeof planAdmission>) =>
    r.ok && r.plans.map((p) => (p.action === "refuse" ? [p.nodeId, p.error] : [p.nodeId, p.action]));

  it("refuses every kind of op on a held node, and a move past a pin, unless forced", () => {
    const f = facts({ policy });
    expect(
      refusals(planAdmission({ kind: "install", backend: "llama-cpp", nodes: ["gpu", "cpu"] }, f)),
    ).toEqual([
      ["gpu", "node gpu is held for every backend: debugging; force overrides it (--force)"],
      // The meta's pin has a selector the node does not match; its concrete's pin has none.
      [
        "cpu",
        "cpu-llama-cpp is pinned to 1.0.0 on cpu, not cpu-llama-cpp (unversioned); force overrides it (--force)",
      ],
    ]);
    expect(
      refusals(planAdmission({ kind: "rollback", backend: "cuda12-llama-cpp", nodes: ["gpu"] }, f)),
    ).toEqual([["gpu", "node gpu is held for every backend: debugging; force overrides it (--force)"]]);
    // A hold for another backend leaves this one alone; a delete moves no version past a pin.
    expect(refusals(planAdmission({ kind: "delete", backend: "cpu-llama-cpp", nodes: ["cpu"] }, f))).toEqual([
      ["cpu", "admit"],
    ]);
    const forced = planAdmission(
      { kind: "install", backend: "llama-cpp", nodes: ["gpu", "cpu"], force: true },
      f,
    );
    expect(refusals(forced)).toEqual([
      ["gpu", "admit"],
      ["cpu", "admit"],
    ]);
  });
});
