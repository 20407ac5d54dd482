import { describe, expect, it } from "vitest";
import {
  BUCKETS,
  DEFAULT_STRATEGY,
  Rollout,
  RolloutNode,
  encode,
  failureBudget,
  maxParallelOf,
  newRolloutId,
  parseStrategy,
  parseWaves,
  resolveAmount,
  rolloutNodeKey,
  rolloutOpId,
  rolloutRevertId,
  waveSizes,
  OpId,
  type Rollout as RolloutT,
  type RolloutNode as RolloutNodeT,
  type StrategyInput,
} from "../../src/protocol/index.js";

const T0 = 1_800_000_000_000;

describe("strategy parsing", () => {
  it("fills the defaults", () => {
    const r = parseStrategy({});
    expect(r).toEqual({ ok: true, strategy: DEFAULT_STRATEGY });
    expect(DEFAULT_STRATEGY).toMatchObject({
      waves: ["1", "10%", "50%", "100%"],
      maxParallel: "10%",
      soakMs: 60_000,
      autoPromote: true,
      autoRevert: false,
    });
    expect(DEFAULT_STRATEGY.maxFailures).toBeUndefined();
  });

  it("overrides each field", () => {
    const r = parseStrategy({
      waves: " 1, 25% ,100%",
      maxParallel: "3",
      soak: "2m",
      maxFailures: "5%",
      autoPromote: false,
      autoRevert: true,
    });
    expect(r).toEqual({
      ok: true,
      strategy: {
        waves: ["1", "25%", "100%"],
        maxParallel: "3",
        soakMs: 120_000,
        maxFailures: "5%",
        autoPromote: false,
        autoRevert: true,
      },
    });
    expect(parseStrategy({ soak: "90" })).toMatchObject({ strategy: { soakMs: 90_000 } });
    expect(parseStrategy({ soak: "500ms" })).toMatchObject({ strategy: { soakMs: 500 } });
    expect(parseStrategy({ soak: 0 })).toMatchObject({ strategy: { soakMs: 0 } });
  });

  it.each([
    [{ waves: "" }, "waves", /no waves/],
    [{ waves: "1,,50%" }, "waves", /no waves|./],
    [{ waves: "50%,10%" }, "waves", /smaller than the one before/],
    [{ waves: "5,2" }, "waves", /smaller than the one before/],
    [{ waves: "0,100%" }, "waves", /more than 0/],
    [{ waves: "150%" }, "waves", /at most 100%/],
    [{ waves: "1,ten" }, "waves", /wave step ten/],
    [{ maxParallel: "0" }, "maxParallel", /above 0/],
    [{ maxParallel: "x" }, "maxParallel", /count or percentage/],
    [{ soak: "soon" }, "soak", /duration/],
    [{ soak: "8d" }, "soak", /duration/],
    [{ maxFailures: "-1" }, "maxFailures", /count or percentage/],
  ])("refuses %o with a clear error", (input: StrategyInput, field, error) => {
    const r = parseStrategy(input);
    if (input.waves === "1,,50%") {
      // Empty steps are ignored: "1,,50%" is "1,50%".
      expect(r).toMatchObject({ ok: true, strategy: { waves: ["1", "50%"] } });
      return;
    }
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.field).toBe(field);
    expect(r.error).toMatch(error);
  });

  it("checks steps per unit: counts and percentages each non-decreasing", () => {
    expect(parseWaves("1,10%,5,50%")).toEqual({ ok: true, waves: ["1", "10%", "5", "50%"] });
  });
});

describe("wave sizes, parallelism and failure budget", () => {
  it.each([
    [["1", "10%", "50%", "100%"], 100, [1, 10, 50, 100]],
    [["1", "10%", "50%", "100%"], 5, [1, 3, 5]], // 10% of 5 rounds up to 1 = wave 1, dropped
    [["1", "10%", "50%", "100%"], 1, [1]],
    [["1", "50%", "100%"], 6, [1, 3, 6]],
    [["1", "25%"], 8, [1, 2, 8]], // the last wave always takes the rest
    [["3", "2"], 10, [3, 10]],
    [["100%"], 7, [7]],
    [["1", "10%"], 0, []],
    [["20"], 5, [5]],
  ])("waves %o over %i nodes: %o", (waves, total, sizes) => {
    expect(waveSizes(waves, total)).toEqual(sizes);
  });

  it("resolves amounts, rounding percentages up", () => {
    expect(resolveAmount("10%", 5)).toBe(1);
    expect(resolveAmount("10%", 10)).toBe(1);
    expect(resolveAmount("10%", 11)).toBe(2);
    expect(resolveAmount("33.5%", 200)).toBe(67);
    expect(resolveAmount("0", 50)).toBe(0);
    expect(resolveAmount("80", 50)).toBe(50);
  });

  it("runs at least one node at once", () => {
    expect(maxParallelOf(DEFAULT_STRATEGY, 3)).toBe(1);
    expect(maxParallelOf(DEFAULT_STRATEGY, 200)).toBe(20);
    expect(maxParallelOf({ ...DEFAULT_STRATEGY, maxParallel: "4" }, 2)).toBe(2);
  });

  it("tolerates no failure in the first wave and 10% after, unless told", () => {
    expect(failureBudget(DEFAULT_STRATEGY, 0, 100)).toBe(0);
    expect(failureBudget(DEFAULT_STRATEGY, 1, 100)).toBe(10);
    expect(failureBudget(DEFAULT_STRATEGY, 3, 5)).toBe(1);
    expect(failureBudget({ ...DEFAULT_STRATEGY, maxFailures: "2" }, 0, 100)).toBe(2);
  });
});

function head(over: Partial<RolloutT> = {}): RolloutT {
  return Rollout.parse({
    v: 1,
    id: "ro-mq3x0c00-ab12",
    backend: "llama-cpp",
    galleryVersion: "v1.2.3",
    builds: {
      "cuda12-llama-cpp": {
        target: { name: "cuda12-llama-cpp", uri: "quay.io/x/y:cuda12", version: "v1.2.3", meta: "llama-cpp" },
        digest: `sha256:${"a".repeat(64)}`,
      },
      "cpu-llama-cpp": {
        target: { name: "cpu-llama-cpp", uri: "quay.io/x/y:cpu", version: "v1.2.3", meta: "llama-cpp" },
        digest: `sha256:${"b".repeat(64)}`,
      },
    },
    byCapability: { "nvidia-cuda-12": "cuda12-llama-cpp", default: "cpu-llama-cpp" },
    targeting: { kind: "selector", selector: "gpu in (h100,a100),zone!=eu" },
    total: 20_000,
    eligible: 20_000,
    waves: [1, 2000, 10_000, 20_000],
    strategy: DEFAULT_STRATEGY,
    state: "running",
    wave: 2,
    waveStartedAt: T0,
    createdAt: T0,
    createdBy: "alice",
    updatedAt: T0,
    ...over,
  });
}

describe("the rollout records", () => {
  it("parse with their defaults and refuse a bad state", () => {
    const r = head();
    expect(r).toMatchObject({ forgiven: 0, pauses: [], actions: [], dismissed: false });
    expect(Rollout.safeParse({ ...r, state: "done" }).success).toBe(false);
    expect(Rollout.safeParse({ ...r, id: "x.y" }).success).toBe(false);
  });

  it("derive op ids that are valid op ids and keys, distinct for upgrade and revert", () => {
    const id = newRolloutId(T0);
    expect(id).toMatch(/^ro-[a-z0-9]+-[a-z0-9]{4}$/);
    const up = rolloutOpId(id, 19_999);
    const back = rolloutRevertId(id, 19_999);
    expect(OpId.safeParse(up).success).toBe(true);
    expect(OpId.safeParse(back).success).toBe(true);
    expect(up).not.toBe(back);
    expect(rolloutOpId(id, 1)).not.toBe(rolloutOpId(id, 2));
    expect(rolloutNodeKey(id, "gpu.7")).toBe(`${id}.gpu-7`);
    expect(BUCKETS.rollout_nodes.key.parse(`${id}.gpu-7`)).toEqual({ rolloutId: id, nodeId: "gpu-7" });
  });

  it("fit a 20,000-node rollout under the buckets' value limits, whatever the fleet size", () => {
    const r = head({
      pauses: Array.from({ length: 100 }, (_, i) => ({ at: T0 + i, by: "alice", reason: "x".repeat(200) })),
      actions: Array.from({ length: 200 }, (_, i) => ({
        at: T0 + i,
        by: "leader",
        what: "wave" as const,
        wave: i % 4,
      })),
      counts: { waiting: 10_000, running: 2000, done: 7000, failed: 500, skipped: 500, reverted: 0 },
    });
    const headBytes = encode(r).length;
    expect(headBytes).toBeLessThan(BUCKETS.rollouts.kv.maxValueBytes!);
    expect(headBytes).toBeLessThan(128 * 1024);

    const rows: RolloutNodeT[] = Array.from({ length: 20_000 }, (_, i) =>
      RolloutNode.parse({
        v: 1,
        rollout: r.id,
        node: `gpu-node-${String(i).padStart(5, "0")}-${"z".repeat(40)}`,
        i,
        w: i < 1 ? 0 : i < 2000 ? 1 : i < 10_000 ? 2 : 3,
        o: "fail",
        c: "cuda12-llama-cpp",
        why: "e".repeat(1024),
        gen: "20261202T080000000Z-abcd",
        fromVersion: "v1.2.2",
        fromDigest: `sha256:${"c".repeat(64)}`,
        at: T0,
      }),
    );
    const largest = Math.max(...rows.map((x) => encode(x).length));
    expect(largest).toBeLessThan(BUCKETS.rollout_nodes.kv.maxValueBytes!);
    // The head does not hold the rows: its size is independent of the node count.
    const small = encode(head({ total: 1, eligible: 1, waves: [1] })).length;
    expect(Math.abs(encode(head()).length - small)).toBeLessThan(64);
  });
});
