import { describe, expect, it } from "vitest";
import {
  can,
  cancelOp,
  cancelRequested,
  dismissOp,
  finishOp,
  isActive,
  isRunnable,
  isTerminal,
  MAX_WORK_ATTEMPTS,
  needsAttention,
  OpRecord,
  OpState,
  phaseOp,
  reapedState,
  reapOp,
  requeueOp,
  retryOp,
  startOp,
  touchOp,
  written,
  type OpAction,
  type Step,
} from "../../src/protocol/index.js";
import { opRecord } from "../fixtures/records.js";

const T0 = 1_700_000_000_000;
const NOW = T0 + 60_000;
const STATES = OpState.options;

/** A plausible record in `state` (terminal ones carry finishedAt, failed ones an error). */
function inState(state: OpState, extra: Partial<OpRecord> = {}): OpRecord {
  const base: OpRecord = { ...opRecord, state, createdAt: T0, updatedAt: T0 + 10, startedAt: T0 + 5 };
  if (state === "queued") {
    const { phase: _p, startedAt: _s, ...rest } = base;
    return { ...rest, attempts: 0, ...extra };
  }
  if (isTerminal(state)) {
    return { ...base, finishedAt: T0 + 20, ...(state === "failed" ? { error: "boom" } : {}), ...extra };
  }
  return { ...base, ...extra };
}

/** Every transition, with fixed arguments, keyed by the name the table uses. */
const TRANSITIONS: Record<string, (op: OpRecord) => Step> = {
  start: (op) => startOp(op, NOW),
  phase: (op) => phaseOp(op, "extracting", undefined, NOW),
  touch: (op) => touchOp(op, NOW),
  "finish:succeeded": (op) =>
    finishOp(op, { state: "succeeded", result: { version: "1.2", noop: false } }, NOW),
  "finish:failed": (op) => finishOp(op, { state: "failed", error: "disk full" }, NOW),
  "finish:cancelled": (op) => finishOp(op, { state: "cancelled" }, NOW),
  requeue: (op) => requeueOp(op, NOW),
  cancel: (op) => cancelOp(op, "alice", NOW),
  dismiss: (op) => dismissOp(op, NOW),
  retry: (op) => retryOp(op, NOW),
  reap: (op) => reapOp(op, "stale: no update for 20m", NOW),
};

/** What each transition does from each state: the state written, "keep" (allowed, no write) or "-" (refused). */
const R = "-";
// prettier-ignore
const MATRIX: Record<string, Record<OpState, OpState | "keep" | typeof R>> = {
  start:              { queued: "running",   running: "running",    cancelling: "cancelled", succeeded: R,      failed: R,      cancelled: R },
  phase:              { queued: R,           running: "running",    cancelling: R,           succeeded: R,      failed: R,      cancelled: R },
  touch:              { queued: R,           running: "running",    cancelling: R,           succeeded: R,      failed: R,      cancelled: R },
  "finish:succeeded": { queued: "succeeded", running: "succeeded",  cancelling: "succeeded", succeeded: R,      failed: R,      cancelled: R },
  "finish:failed":    { queued: "failed",    running: "failed",     cancelling: "failed",    succeeded: R,      failed: R,      cancelled: R },
  "finish:cancelled": { queued: "cancelled", running: "cancelled",  cancelling: "cancelled", succeeded: R,      failed: R,      cancelled: R },
  requeue:            { queued: R,           running: "queued",     cancelling: R,           succeeded: R,      failed: R,      cancelled: R },
  cancel:             { queued: "cancelled", running: "cancelling", cancelling: "keep",      succeeded: R,      failed: R,      cancelled: R },
  dismiss:            { queued: R,           running: R,            cancelling: R,           succeeded: "succeeded", failed: "failed", cancelled: "cancelled" },
  retry:              { queued: R,           running: R,            cancelling: R,           succeeded: R,      failed: "queued", cancelled: R },
  reap:               { queued: "failed",    running: "failed",     cancelling: "cancelled", succeeded: R,      failed: R,      cancelled: R },
};

const outcome = (s: Step): OpState | "keep" | typeof R =>
  s.kind === "write" ? s.op.state : s.kind === "keep" ? "keep" : R;

describe("op lifecycle: every state × every transition", () => {
  it("the table covers every transition and every state", () => {
    expect(Object.keys(MATRIX).sort()).toEqual(Object.keys(TRANSITIONS).sort());
    for (const row of Object.values(MATRIX)) expect(Object.keys(row).sort()).toEqual([...STATES].sort());
  });

  for (const [name, run] of Object.entries(TRANSITIONS)) {
    for (const state of STATES) {
      const expected = MATRIX[name]![state];
      it(`${name} from ${state}: ${expected === R ? "refused" : expected}`, () => {
        const before = inState(state);
        const step = run(before);
        expect(outcome(step)).toBe(expected);
        if (step.kind === "refuse") expect(step.why).not.toBe("");
        if (step.kind === "write") {
          // Every written record is valid and keeps the op's identity.
          expect(OpRecord.safeParse(step.op).success).toBe(true);
          const keep = ["id", "nodeId", "kind", "backend", "target", "createdAt", "requestedBy"] as const;
          for (const k of keep) expect(step.op[k]).toEqual(before[k]);
          expect(step.op.updatedAt).toBe(NOW);
          if (isTerminal(step.op) && isActive(before)) expect(step.op.finishedAt).toBe(NOW);
        }
      });
    }
  }

  it("dismissing an op already dismissed writes nothing", () => {
    for (const s of TERMINAL_ONLY())
      expect(dismissOp(inState(s, { dismissed: true }), NOW).kind).toBe("keep");
  });

  it("retrying a dismissed failure re-queues it undismissed", () => {
    const step = retryOp(inState("failed", { dismissed: true }), NOW);
    expect(step.kind === "write" && step.op.dismissed).toBe(false);
  });
});

const TERMINAL_ONLY = () => STATES.filter((s) => isTerminal(s));

describe("op lifecycle: what each transition writes", () => {
  it("start counts the attempt, starts at resolving and clears the last outcome", () => {
    const step = startOp(inState("queued", { error: "interrupted", bytesTotal: 5, attempts: 1 }), NOW);
    expect(step).toMatchObject({ kind: "write", run: true });
    if (step.kind !== "write") return;
    expect(step.op).toMatchObject({ state: "running", attempts: 2, startedAt: NOW, phase: "resolving" });
    expect(step.op.error).toBeUndefined();
    expect(step.op.bytesTotal).toBeUndefined();
    expect(step.op.result).toBeUndefined();
  });

  it("start gives up past the attempt limit, with the last phase and error", () => {
    const op = inState("running", { attempts: MAX_WORK_ATTEMPTS, phase: "downloading", error: "reset" });
    const step = startOp(op, NOW);
    expect(step).toMatchObject({ kind: "write", run: false, why: "gave up: too many attempts" });
    expect(step.kind === "write" && step.op).toMatchObject({
      state: "failed",
      finishedAt: NOW,
      error: `gave up after ${MAX_WORK_ATTEMPTS} attempts; the last was interrupted while downloading: reset`,
    });
  });

  it("start and phase record when each phase of the attempt began (the op detail view shows them)", () => {
    const retried = inState("queued", { phases: [{ phase: "downloading", at: NOW - 99 }] });
    const started = startOp(retried, NOW);
    if (started.kind !== "write") throw new Error("start refused");
    expect(started.op.phases).toEqual([{ phase: "resolving", at: NOW }]);
    const dl = written(phaseOp(started.op, "downloading", 10, NOW + 5));
    expect(dl?.phases).toEqual([
      { phase: "resolving", at: NOW },
      { phase: "downloading", at: NOW + 5 },
    ]);
    // Only the byte total changed: same phase, same start time.
    expect(written(phaseOp(dl!, "downloading", 20, NOW + 9))?.phases).toEqual(dl?.phases);
  });

  it("start settles a cancelling op without running it", () => {
    expect(startOp(inState("cancelling"), NOW)).toMatchObject({
      kind: "write",
      run: false,
      why: "cancelled before it started",
      op: { state: "cancelled", finishedAt: NOW },
    });
  });

  it("phase is kept when unchanged, and refused as a cancel once one was asked for", () => {
    const op = inState("running", { phase: "downloading", bytesTotal: 10 });
    expect(phaseOp(op, "downloading", undefined, NOW).kind).toBe("keep");
    expect(phaseOp(op, "downloading", 10, NOW).kind).toBe("keep");
    expect(phaseOp(op, "downloading", 11, NOW)).toMatchObject({ kind: "write", op: { bytesTotal: 11 } });
    expect(phaseOp(inState("cancelling"), "verifying", undefined, NOW)).toEqual({
      kind: "refuse",
      why: "cancelled",
    });
    expect(phaseOp(inState("queued"), "verifying", undefined, NOW)).toEqual({
      kind: "refuse",
      why: "op is queued elsewhere",
    });
  });

  it("finish records the result or the clipped error", () => {
    const ok = finishOp(
      inState("running", { error: "old" }),
      { state: "succeeded", result: { noop: true } },
      NOW,
    );
    expect(ok.kind === "write" && ok.op).toMatchObject({ state: "succeeded", result: { noop: true } });
    expect(ok.kind === "write" && ok.op.error).toBeUndefined();
    const long = finishOp(inState("running"), { state: "failed", error: "x".repeat(10_000) }, NOW);
    expect(long.kind === "write" && long.op.error?.length).toBe(4000);
    expect(long.kind === "write" && OpRecord.safeParse(long.op).success).toBe(true);
  });

  it("a failed finish may keep a result (the hook that failed the op) and validates", () => {
    const hook = {
      hook: "on-activate" as const,
      ok: false,
      exitCode: 3,
      durationMs: 12,
      output: ["nope"],
      action: "the previous version of x (1) was put back",
    };
    const step = finishOp(inState("running"), { state: "failed", error: "hook", result: { hook } }, NOW);
    expect(step.kind === "write" && step.op).toMatchObject({
      state: "failed",
      error: "hook",
      result: { hook },
    });
    expect(step.kind === "write" && OpRecord.safeParse(step.op).success).toBe(true);
    const plain = finishOp(inState("running"), { state: "failed", error: "disk full" }, NOW);
    expect(plain.kind === "write" && "result" in plain.op).toBe(false);
  });

  it("requeue says where the agent stopped", () => {
    const step = requeueOp(inState("running", { phase: "extracting" }), NOW);
    expect(step.kind === "write" && step.op).toMatchObject({
      state: "queued",
      error: "interrupted: the agent stopped while extracting",
    });
    expect(step.kind === "write" && step.op.phase).toBeUndefined();
  });

  it("cancel of a queued op ends it at once, naming who cancelled", () => {
    expect(cancelOp(inState("queued"), "alice", NOW)).toMatchObject({
      kind: "write",
      op: { state: "cancelled", finishedAt: NOW, error: "cancelled by alice before it started" },
    });
    expect(cancelOp(inState("failed"), "alice", NOW)).toEqual({
      kind: "refuse",
      why: `operation ${opRecord.id} is already failed`,
    });
  });

  it("retry clears the outcome but keeps counting attempts", () => {
    const step = retryOp(
      inState("failed", { attempts: 2, phase: "verifying", result: { noop: false } }),
      NOW,
    );
    expect(step.kind).toBe("write");
    if (step.kind !== "write") return;
    expect(step.op).toMatchObject({ state: "queued", attempts: 2, dismissed: false });
    for (const k of ["error", "phase", "startedAt", "finishedAt", "result"] as const) {
      expect(step.op).not.toHaveProperty(k);
    }
  });

  it("reap ends with the reason, as cancelled when a cancel was asked for", () => {
    expect(reapOp(inState("cancelling"), "node gone", NOW)).toMatchObject({
      kind: "write",
      op: { state: "cancelled", error: "node gone", finishedAt: NOW },
    });
    expect(STATES.filter(isActive).map((s) => reapedState(inState(s)))).toEqual([
      "failed",
      "failed",
      "cancelled",
    ]);
  });
});

describe("op lifecycle: predicates", () => {
  // prettier-ignore
  const TABLE: Record<OpState, { terminal: boolean; runnable: boolean; cancelRequested: boolean }> = {
    queued:     { terminal: false, runnable: true,  cancelRequested: false },
    running:    { terminal: false, runnable: true,  cancelRequested: false },
    cancelling: { terminal: false, runnable: false, cancelRequested: true },
    succeeded:  { terminal: true,  runnable: false, cancelRequested: false },
    failed:     { terminal: true,  runnable: false, cancelRequested: false },
    cancelled:  { terminal: true,  runnable: false, cancelRequested: true },
  };

  for (const state of STATES) {
    it(`${state}`, () => {
      const op = inState(state);
      const row = TABLE[state];
      expect(isTerminal(state)).toBe(row.terminal);
      expect(isTerminal(op)).toBe(row.terminal);
      expect(isActive(op)).toBe(!row.terminal);
      expect(isRunnable(op)).toBe(row.runnable);
      expect(cancelRequested(op)).toBe(row.cancelRequested);
      expect(needsAttention(op)).toBe(state === "failed");
      expect(needsAttention({ ...op, dismissed: true })).toBe(false);
    });
  }

  // prettier-ignore
  const CAN: Record<OpState, Record<OpAction, boolean>> = {
    queued:     { cancel: true,  dismiss: false, retry: false },
    running:    { cancel: true,  dismiss: false, retry: false },
    cancelling: { cancel: false, dismiss: false, retry: false },
    succeeded:  { cancel: false, dismiss: false, retry: false },
    failed:     { cancel: false, dismiss: true,  retry: true },
    cancelled:  { cancel: false, dismiss: false, retry: false },
  };

  for (const state of STATES) {
    for (const dismissed of [false, true]) {
      it(`can(${state}${dismissed ? ", dismissed" : ""}) agrees with the table and the transitions`, () => {
        const op = inState(state, { dismissed });
        expect(can(op, "cancel")).toBe(CAN[state].cancel);
        expect(can(op, "retry")).toBe(CAN[state].retry);
        expect(can(op, "dismiss")).toBe(CAN[state].dismiss && !dismissed);
        // A capability is offered only where its transition writes something.
        expect(can(op, "cancel")).toBe(cancelOp(op, "a", NOW).kind === "write");
        expect(can(op, "retry")).toBe(retryOp(op, NOW).kind === "write");
        if (can(op, "dismiss")) expect(dismissOp(op, NOW).kind).toBe("write");
      });
    }
  }
});

/** mulberry32: a small seeded generator, so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("op lifecycle: random sequences", () => {
  it("nothing leaves a terminal state except failed → queued by retry", () => {
    const names = Object.keys(TRANSITIONS);
    let writes = 0;
    let retriedOut = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const rand = rng(seed);
      let op = inState(STATES[Math.floor(rand() * STATES.length)]!, { dismissed: rand() < 0.3 });
      const trail: string[] = [op.state];
      for (let i = 0; i < 40; i++) {
        const name = names[Math.floor(rand() * names.length)]!;
        const step = TRANSITIONS[name]!(op);
        trail.push(`${name}→${outcome(step)}`);
        if (step.kind !== "write") continue;
        writes++;
        const next = step.op;
        const where = `seed ${seed}: ${trail.join(" ")}`;
        expect(OpRecord.safeParse(next).success, where).toBe(true);
        if (isTerminal(op) && !isTerminal(next)) {
          expect({ from: op.state, by: name, to: next.state }, where).toEqual({
            from: "failed",
            by: "retry",
            to: "queued",
          });
          retriedOut++;
        }
        if (isTerminal(op) && isTerminal(next)) expect(next.state, where).toBe(op.state);
        expect(next.attempts, where).toBeGreaterThanOrEqual(op.attempts);
        op = next;
      }
    }
    // The sequences did exercise the rule, both ways.
    expect(writes).toBeGreaterThan(1000);
    expect(retriedOut).toBeGreaterThan(10);
  });
});
