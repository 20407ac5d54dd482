import { z } from "zod";
import { BackendName, Capability, Millis, NodeId, Text } from "./ids.js";
import { InstallTarget, ROLLOUT_EVENT_KINDS, SCHEMA_VERSION } from "./records.js";

/**
 * Rollouts: one backend version taken across a fixed set of nodes in waves. The record is split
 * in two buckets so that neither grows with the fleet past NATS's payload limit: `rollouts` holds
 * the head (target, strategy, state, current wave; a few KB whatever the node count) and
 * `rollout_nodes` one small row per targeted node, key `<rolloutId>.<nodeId>`.
 */

const v = z.literal(SCHEMA_VERSION, {
  error: `unsupported schema version (this build reads v${SCHEMA_VERSION})`,
});

// ---------------------------------------------------------------- amounts and durations

/** A count ("3") or a percentage of the targeted nodes ("25%"). */
export const Amount = z
  .string()
  .regex(/^(\d{1,7}|\d{1,3}(\.\d{1,2})?%)$/, "must be a count such as 3 or a percentage such as 25%")
  .refine((s) => !s.endsWith("%") || Number(s.slice(0, -1)) <= 100, "a percentage is at most 100%");
export type Amount = z.infer<typeof Amount>;

/** An amount of `total` nodes: percentages round up, so 10% of 5 nodes is 1, never 0. */
export function resolveAmount(a: Amount, total: number): number {
  if (a.endsWith("%")) return Math.min(total, Math.ceil((Number(a.slice(0, -1)) * total) / 100 - 1e-9));
  return Math.min(total, Number(a));
}

// ---------------------------------------------------------------- strategy

export const DEFAULT_WAVES: readonly Amount[] = ["1", "10%", "50%", "100%"];
export const DEFAULT_MAX_PARALLEL: Amount = "10%";
export const DEFAULT_SOAK_MS = 60_000;
/** Failure budget when none is given: none in the first wave, 10% of the targeted nodes after. */
export const DEFAULT_FIRST_WAVE_FAILURES: Amount = "0";
export const DEFAULT_LATER_FAILURES: Amount = "10%";

export const Strategy = z.object({
  /** Cumulative steps; the last wave always takes every remaining node. */
  waves: z.array(Amount).min(1).max(32),
  /** Nodes of this rollout with an active op at once (at least 1). */
  maxParallel: Amount,
  /** How long every node of a finished wave must stay healthy before the next starts. */
  soakMs: z
    .number()
    .int()
    .nonnegative()
    .max(7 * 24 * 3600_000),
  /** Failures tolerated over the whole rollout; unset: 0 during the first wave, 10% after. */
  maxFailures: Amount.optional(),
  /** False: pause after every wave until promoted. */
  autoPromote: z.boolean(),
  /** True: exceeding the failure budget aborts and reverts instead of pausing. */
  autoRevert: z.boolean(),
});
export type Strategy = z.infer<typeof Strategy>;

export const DEFAULT_STRATEGY: Strategy = {
  waves: [...DEFAULT_WAVES],
  maxParallel: DEFAULT_MAX_PARALLEL,
  soakMs: DEFAULT_SOAK_MS,
  autoPromote: true,
  autoRevert: false,
};

/** A strategy as people write it (CLI flags, API fields); every field optional. */
export interface StrategyInput {
  waves?: string;
  maxParallel?: string;
  /** "90s", "2m", "1h", "500ms", or plain seconds; a number is milliseconds. */
  soak?: string | number;
  maxFailures?: string;
  autoPromote?: boolean;
  autoRevert?: boolean;
}

export type StrategyParse = { ok: true; strategy: Strategy } | { ok: false; field: string; error: string };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "90s", "2m", "1h", "500ms" or plain seconds, to milliseconds; null when it does not parse. */
export function parseSoak(s: string): number | null {
  const m = DURATION.exec(s.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? "s"]!);
}

const isPct = (a: string) => a.endsWith("%");
const num = (a: string) => Number(isPct(a) ? a.slice(0, -1) : a);

/** Parse "1,10%,50%,100%": each step a positive count or percentage, counts and percentages each non-decreasing. */
export function parseWaves(s: string): { ok: true; waves: Amount[] } | { ok: false; error: string } {
  const steps = s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (steps.length === 0) return { ok: false, error: "no waves: give steps such as 1,10%,50%,100%" };
  if (steps.length > 32) return { ok: false, error: "at most 32 waves" };
  let lastCount = 0;
  let lastPct = 0;
  for (const step of steps) {
    const a = Amount.safeParse(step);
    if (!a.success) return { ok: false, error: `wave step ${step}: ${a.error.issues[0]!.message}` };
    const n = num(step);
    if (n <= 0) return { ok: false, error: `wave step ${step}: must be more than 0` };
    const prev = isPct(step) ? lastPct : lastCount;
    if (n < prev) {
      return { ok: false, error: `wave step ${step} is smaller than the one before (steps are cumulative)` };
    }
    if (isPct(step)) lastPct = n;
    else lastCount = n;
  }
  return { ok: true, waves: steps };
}

/** A strategy from people's input over `defaults` (the cluster settings' default strategy). */
export function parseStrategy(input: StrategyInput, defaults: Strategy = DEFAULT_STRATEGY): StrategyParse {
  const out: Strategy = { ...defaults, waves: [...defaults.waves] };
  if (input.waves !== undefined) {
    const w = parseWaves(input.waves);
    if (!w.ok) return { ok: false, field: "waves", error: w.error };
    out.waves = w.waves;
  }
  if (input.maxParallel !== undefined) {
    const a = Amount.safeParse(input.maxParallel.trim());
    if (!a.success || num(a.data) <= 0) {
      return {
        ok: false,
        field: "maxParallel",
        error: "must be a count or percentage above 0, such as 5 or 10%",
      };
    }
    out.maxParallel = a.data;
  }
  if (input.soak !== undefined) {
    const ms = typeof input.soak === "number" ? input.soak : parseSoak(input.soak);
    if (ms === null || !Number.isInteger(ms) || ms < 0 || ms > 7 * 24 * 3600_000) {
      return { ok: false, field: "soak", error: "must be a duration such as 60s, 5m or 1h (at most 7 days)" };
    }
    out.soakMs = ms;
  }
  if (input.maxFailures !== undefined) {
    const a = Amount.safeParse(input.maxFailures.trim());
    if (!a.success)
      return { ok: false, field: "maxFailures", error: "must be a count or percentage, such as 0, 2 or 5%" };
    out.maxFailures = a.data;
  }
  if (input.autoPromote !== undefined) out.autoPromote = input.autoPromote;
  if (input.autoRevert !== undefined) out.autoRevert = input.autoRevert;
  return { ok: true, strategy: out };
}

/** Cumulative wave sizes over `total` nodes: strictly increasing, empty steps dropped, the last = total. */
export function waveSizes(waves: readonly Amount[], total: number): number[] {
  if (total <= 0) return [];
  const out: number[] = [];
  for (const w of waves) {
    const n = Math.max(1, resolveAmount(w, total));
    if (n > (out.at(-1) ?? 0)) out.push(n);
  }
  if ((out.at(-1) ?? 0) < total) out.push(total);
  return out;
}

/** Active ops at once: the strategy's cap over `total`, at least 1. */
export function maxParallelOf(s: Strategy, total: number): number {
  return Math.max(1, resolveAmount(s.maxParallel, total));
}

/** Failures tolerated while wave `wave` (0-based) runs. */
export function failureBudget(s: Strategy, wave: number, total: number): number {
  if (s.maxFailures !== undefined) return resolveAmount(s.maxFailures, total);
  return resolveAmount(wave === 0 ? DEFAULT_FIRST_WAVE_FAILURES : DEFAULT_LATER_FAILURES, total);
}

/** A strategy as it is shown: `waves 1,10%,50%,100% · max 10% at once · soak 60s · ...`. */
export function describeStrategy(s: Strategy): string {
  const failures = s.maxFailures ?? `${DEFAULT_FIRST_WAVE_FAILURES} then ${DEFAULT_LATER_FAILURES}`;
  return [
    `waves ${s.waves.join(",")}`,
    `max ${s.maxParallel} at once`,
    `soak ${Math.round(s.soakMs / 1000)}s`,
    `max failures ${failures}`,
    s.autoPromote ? "auto-promote" : "promote by hand",
    ...(s.autoRevert ? ["auto-revert"] : []),
  ].join(" · ");
}

// ---------------------------------------------------------------- the head record

export const RolloutState = z.enum([
  "planned",
  "running",
  "paused",
  "succeeded",
  "failed",
  "aborting",
  "aborted",
]);
export type RolloutState = z.infer<typeof RolloutState>;

export const ROLLOUT_ENDED: readonly RolloutState[] = ["succeeded", "failed", "aborted"];
export const rolloutEnded = (s: RolloutState): boolean => ROLLOUT_ENDED.includes(s);

/** A rollout id: sortable by creation time; also the prefix of its ops' ids. */
export const RolloutId = z
  .string()
  .min(1)
  .max(40)
  .regex(/^ro-[a-z0-9]+-[a-z0-9]+$/, "must look like ro-<time>-<random>");
export type RolloutId = z.infer<typeof RolloutId>;

export function newRolloutId(now = Date.now()): string {
  const rand = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  return `ro-${now.toString(36)}-${rand}`;
}

/**
 * The op ids of a rollout are derived, not drawn: the upgrade of the node at `index` (its row's
 * `i`) and its revert. A leader taking over finds an op its predecessor admitted but did not
 * record by its key, so no node is admitted twice.
 */
export const rolloutOpId = (rolloutId: string, index: number): string => `${rolloutId}-${index.toString(36)}`;
export const rolloutRevertId = (rolloutId: string, index: number): string =>
  `${rolloutId}-r${index.toString(36)}`;

/** One build the rollout installs, pinned at creation. */
export const PinnedBuild = z.object({
  target: InstallTarget,
  /** The manifest digest the upgrade check saw for its URI, when it had one. */
  digest: Text(128).optional(),
});
export type PinnedBuild = z.infer<typeof PinnedBuild>;

/** Who did what, newest last (bounded: the oldest entries go first). */
export const RolloutAction = z.object({
  at: Millis,
  by: Text(128),
  what: z.enum([
    "created",
    "started",
    "paused",
    "resumed",
    "promoted",
    "aborted",
    "dismissed",
    "gate",
    "wave",
    "ended",
  ]),
  wave: z.number().int().nonnegative().optional(),
  note: Text(512).optional(),
});
export type RolloutAction = z.infer<typeof RolloutAction>;
export const MAX_ROLLOUT_ACTIONS = 200;

export const PauseReason = z.object({ at: Millis, by: Text(128), reason: Text(512) });
export type PauseReason = z.infer<typeof PauseReason>;
export const MAX_PAUSES = 100;

export const RolloutCounts = z.object({
  waiting: z.number().int().nonnegative(),
  running: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  skipped: z.number().int().nonnegative(),
  reverted: z.number().int().nonnegative(),
});
export type RolloutCounts = z.infer<typeof RolloutCounts>;

export const Rollout = z.object({
  v,
  id: RolloutId,
  /** The name rolled out (a meta or a concrete), as asked. */
  backend: BackendName,
  /** The gallery version of the target when the gallery gives one. */
  galleryVersion: Text(128).optional(),
  /** The builds to install, by concrete name, pinned at creation. */
  builds: z.record(BackendName, PinnedBuild).refine((r) => Object.keys(r).length <= 64, "at most 64 builds"),
  /** Which build each capability gets (through the meta), for people. */
  byCapability: z.record(Capability, BackendName).default({}),
  /** How the node set was chosen; the set itself is the rollout's rows, fixed at creation. */
  targeting: z.object({
    kind: z.enum(["nodes", "selector", "installed"]),
    selector: Text(1024).optional(),
  }),
  /** Rows created (targeted nodes, skipped ones included). */
  total: z.number().int().nonnegative(),
  /** Nodes placed in waves (the rest were skipped at creation); percentages are of this. */
  eligible: z.number().int().nonnegative(),
  /** Cumulative wave sizes over `eligible`, resolved at creation. */
  waves: z.array(z.number().int().positive()).max(32),
  strategy: Strategy,
  state: RolloutState,
  /** Why it is paused, failed or aborted; how it ended. */
  reason: Text(1024).optional(),
  /** The current wave, 0-based. */
  wave: z.number().int().nonnegative(),
  waveStartedAt: Millis.optional(),
  /** When every node of the current wave had finished: the soak runs from here. */
  soakStartedAt: Millis.optional(),
  /** The wave an operator promoted (its soak is skipped). */
  promotedWave: z.number().int().nonnegative().optional(),
  /** Failures an operator accepted by resuming; the budget counts the ones after. */
  forgiven: z.number().int().nonnegative().default(0),
  pauses: z.array(PauseReason).max(MAX_PAUSES).default([]),
  actions: z.array(RolloutAction).max(MAX_ROLLOUT_ACTIONS).default([]),
  counts: RolloutCounts.optional(),
  /**
   * Who asked for it: an operator (CLI, dashboard, API), or auto-upgrade, whose rollouts admit
   * only inside the settings' maintenance window. Unset: an operator.
   */
  origin: z.enum(["operator", "auto-upgrade"]).optional(),
  /** Set while an auto-upgrade rollout admits nothing because the window is closed: when it opens. */
  windowOpensAt: Millis.optional(),
  /** The operator dismissed a failed or aborted rollout (auto-upgrade may try that target again). */
  dismissed: z.boolean().default(false),
  createdAt: Millis,
  createdBy: Text(128),
  updatedAt: Millis,
  endedAt: Millis.optional(),
});
export type Rollout = z.infer<typeof Rollout>;

/** Append to a bounded list, dropping the oldest. */
export function appendBounded<T>(list: readonly T[], item: T, max: number): T[] {
  const out = [...list, item];
  return out.length > max ? out.slice(out.length - max) : out;
}

// ---------------------------------------------------------------- per-node rows

/**
 * A node's outcome: `wait` (its wave has not reached it), `skip` (not touched, `why` says why),
 * `run` (its op is active), `ok`, `fail`, `cancel` (its op ended so), `revert` (its revert op is
 * active), `reverted`, `revert-fail`.
 */
export const NodeOutcome = z.enum([
  "wait",
  "skip",
  "run",
  "ok",
  "fail",
  "cancel",
  "revert",
  "reverted",
  "revert-fail",
]);
export type NodeOutcome = z.infer<typeof NodeOutcome>;

/** Why a node is skipped (the plan and the rows say it the same way). */
export const SkipReason = z.enum([
  "held",
  "pinned",
  "draining",
  "offline",
  "pending",
  "unknown-node",
  "current",
  "no-build",
  "dev-twin",
  "not-installed",
]);
export type SkipReason = z.infer<typeof SkipReason>;

export const RolloutNode = z.object({
  v,
  rollout: RolloutId,
  node: NodeId,
  /** Position in the rollout (order of admission); names its op ids. */
  i: z.number().int().nonnegative(),
  /** Wave, 0-based; -1 for a node skipped at creation. */
  w: z.number().int().min(-1),
  o: NodeOutcome,
  /** The build this node gets (a key of the head's `builds`). */
  c: BackendName.optional(),
  skip: SkipReason.optional(),
  why: Text(1024).optional(),
  /** The generation live before its upgrade: where a revert takes it back to. */
  gen: z.string().max(64).optional(),
  /** Version and digest before, for the plan and the views. */
  fromVersion: Text(128).optional(),
  fromDigest: Text(128).optional(),
  at: Millis,
});
export type RolloutNode = z.infer<typeof RolloutNode>;

export const rolloutNodeOpId = (r: Pick<RolloutNode, "rollout" | "i">): string => rolloutOpId(r.rollout, r.i);
export const rolloutNodeRevertId = (r: Pick<RolloutNode, "rollout" | "i">): string =>
  rolloutRevertId(r.rollout, r.i);

/** Events a rollout emits into the audit stream. */
export const RolloutEventKind = z.enum(ROLLOUT_EVENT_KINDS);
export type RolloutEventKind = z.infer<typeof RolloutEventKind>;

// ---------------------------------------------------------------- the plan, as the API returns it

/** Names listed per skip reason in a plan's summary. */
export const PLAN_SKIP_NAMES = 8;
/** Distinct from/to versions a plan's summary counts (a fleet runs a few). */
export const MAX_VERSION_COUNTS = 64;

const FromTo = z.object({ version: Text(128).optional(), digest: Text(128).optional() });

export const PlanMove = z.object({
  nodeId: NodeId,
  concrete: BackendName,
  from: FromTo.extend({ generation: z.string().max(64).optional() }),
  to: FromTo,
});
export type PlanMove = z.infer<typeof PlanMove>;

export const PlanSkip = z.object({ nodeId: NodeId, skip: SkipReason, why: Text(1024) });
export type PlanSkip = z.infer<typeof PlanSkip>;

/** Nodes that run (or would get) one version or digest. */
export const VersionCount = FromTo.extend({ nodes: z.number().int().nonnegative() });
export type VersionCount = z.infer<typeof VersionCount>;

/** The nodes skipped for one reason: how many, and the first few. */
export const SkipCount = z.object({
  skip: SkipReason,
  nodes: z.number().int().nonnegative(),
  first: z.array(NodeId).max(PLAN_SKIP_NAMES),
});
export type SkipCount = z.infer<typeof SkipCount>;

/** What a plan amounts to over every node, listed or not. */
export interface PlanSummary {
  /** Per wave, how many nodes it adds. */
  waveSizes: number[];
  /** What the planned nodes run now, in wave order (the most common when there are very many). */
  from: VersionCount[];
  /** What they get, likewise. */
  to: VersionCount[];
  skippedCount: number;
  /** The skipped by reason, most common first. */
  skippedBy: SkipCount[];
}

const fromToKey = (x: { version?: string; digest?: string }) => `${x.version ?? ""}\u0000${x.digest ?? ""}`;

function versionCounts(sides: ReadonlyArray<{ version?: string; digest?: string }>): VersionCount[] {
  const by = new Map<string, VersionCount>();
  for (const x of sides) {
    const k = fromToKey(x);
    const c = by.get(k);
    if (c) c.nodes++;
    else
      by.set(k, {
        ...(x.version !== undefined ? { version: x.version } : {}),
        ...(x.digest !== undefined ? { digest: x.digest } : {}),
        nodes: 1,
      });
  }
  const all = [...by.values()];
  if (all.length <= MAX_VERSION_COUNTS) return all;
  const most = new Set([...all].sort((a, b) => b.nodes - a.nodes).slice(0, MAX_VERSION_COUNTS));
  return all.filter((c) => most.has(c));
}

/** The totals of a plan from its full lists (one pass over every node). */
export function summarizePlan(
  waves: ReadonlyArray<ReadonlyArray<Pick<PlanMove, "from" | "to">>>,
  skipped: ReadonlyArray<Pick<PlanSkip, "nodeId" | "skip">>,
): PlanSummary {
  const moves = waves.flat();
  const by = new Map<SkipReason, SkipCount>();
  for (const s of skipped) {
    const c = by.get(s.skip) ?? { skip: s.skip, nodes: 0, first: [] };
    c.nodes++;
    if (c.first.length < PLAN_SKIP_NAMES) c.first.push(s.nodeId);
    by.set(s.skip, c);
  }
  return {
    waveSizes: waves.map((w) => w.length),
    from: versionCounts(moves.map((m) => m.from)),
    to: versionCounts(moves.map((m) => m.to)),
    skippedCount: skipped.length,
    skippedBy: [...by.values()].sort((a, b) => b.nodes - a.nodes),
  };
}

/**
 * A rollout's plan as the API returns it: bounded whatever the fleet. The moves and skips
 * listed are the first of each wave and of the skipped (every one unless `truncated`); the
 * counts are over every node.
 */
export const RolloutPlanView = z
  .object({
    backend: BackendName,
    galleryVersion: Text(128).optional(),
    builds: z.record(BackendName, PinnedBuild),
    byCapability: z.record(Capability, BackendName),
    targeting: z.object({
      kind: z.enum(["nodes", "selector", "installed"]),
      selector: Text(1024).optional(),
    }),
    strategy: Strategy,
    /** Per wave, the first nodes it adds: from which version/digest/generation to which. */
    waves: z.array(z.array(PlanMove)).max(64),
    skipped: z.array(PlanSkip),
    // The totals; absent from a controller before the plan was bounded (then the lists are whole).
    waveSizes: z.array(z.number().int().nonnegative()).max(64).optional(),
    from: z.array(VersionCount).max(MAX_VERSION_COUNTS).optional(),
    to: z.array(VersionCount).max(MAX_VERSION_COUNTS).optional(),
    skippedCount: z.number().int().nonnegative().optional(),
    skippedBy: z.array(SkipCount).max(SkipReason.options.length).optional(),
    truncated: z.boolean().default(false),
  })
  .transform((p) => {
    const complete = p.waveSizes && p.from && p.to && p.skippedCount !== undefined && p.skippedBy;
    const whole = complete ? undefined : summarizePlan(p.waves, p.skipped);
    return {
      ...p,
      waveSizes: p.waveSizes ?? whole!.waveSizes,
      from: p.from ?? whole!.from,
      to: p.to ?? whole!.to,
      skippedCount: p.skippedCount ?? whole!.skippedCount,
      skippedBy: p.skippedBy ?? whole!.skippedBy,
    };
  });
export type RolloutPlanView = z.infer<typeof RolloutPlanView>;
