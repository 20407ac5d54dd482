import { MAX_WORK_ATTEMPTS } from "./constants.js";
import type { OpRecord, OpState, Phase } from "./records.js";

/**
 * The op lifecycle: which state an op record may move to, and what each role may do with it.
 * Every writer (controller API, reaper, agent) changes an existing op record only through
 * these functions, inside its compare-and-set; every reader (dashboard, CLI, planners) asks the
 * predicates below instead of comparing states.
 *
 * Main paths (docs/protocol.md and the test matrix have every state × every transition):
 *   queued ─start─▶ running ─finish─▶ succeeded | failed | cancelled
 *   running ─cancel─▶ cancelling ─start, reap or finish─▶ cancelled (finish: or as the run ended)
 *   running ─requeue─▶ queued;  queued ─cancel─▶ cancelled;  queued or running ─reap─▶ failed
 *   failed ─retry─▶ queued: the only way out of a terminal state
 */

export const TERMINAL_STATES: readonly OpState[] = ["succeeded", "failed", "cancelled"];

type HasState = OpState | Pick<OpRecord, "state">;
const stateOf = (x: HasState): OpState => (typeof x === "string" ? x : x.state);

/** Over: succeeded, failed or cancelled. Takes a state or a record. */
export const isTerminal = (x: HasState): boolean => TERMINAL_STATES.includes(stateOf(x));
/** Not over yet: queued, running or cancelling. */
export const isActive = (x: HasState): boolean => !isTerminal(x);
/** To be run by its agent: neither over nor being cancelled (a running op redelivered after a crash runs again). */
export const isRunnable = (op: Pick<OpRecord, "state">): boolean =>
  op.state === "queued" || op.state === "running";
/** Somebody asked for it to stop: a running op seeing this aborts. */
export const cancelRequested = (op: Pick<OpRecord, "state">): boolean =>
  op.state === "cancelling" || op.state === "cancelled";
/** Failed and nobody has dismissed it yet: it stays listed and holds back auto-upgrades. */
export const needsAttention = (op: Pick<OpRecord, "state" | "dismissed">): boolean =>
  op.state === "failed" && !op.dismissed;
/** The state the reaper ends an active op in: a cancel that was asked for stays a cancel. */
export const reapedState = (op: Pick<OpRecord, "state">): "failed" | "cancelled" =>
  op.state === "cancelling" ? "cancelled" : "failed";

/** What a user may ask for about an op (the dashboard's keys, the API's verbs). */
export type OpAction = "cancel" | "dismiss" | "retry";

/**
 * Whether the action does something to this op. Cancel: queued or running (cancelling again only
 * re-sends the signal). Retry: failed. Dismiss: an op that needs attention; the API also accepts
 * dismissing any finished op, but succeeded and cancelled ops leave the active list on their own.
 */
export function can(op: Pick<OpRecord, "state" | "dismissed">, action: OpAction): boolean {
  switch (action) {
    case "cancel":
      return op.state === "queued" || op.state === "running";
    case "dismiss":
      return needsAttention(op);
    case "retry":
      return op.state === "failed";
  }
}

// ---------------------------------------------------------------- transitions

/** A transition's answer: the record to write, nothing to write (allowed, already so), or a refusal. */
export type Step = { kind: "write"; op: OpRecord } | { kind: "keep" } | { kind: "refuse"; why: string };

/** The record to write for a step, or null (the compare-and-set's "leave it"). */
export const written = (s: Step): OpRecord | null => (s.kind === "write" ? s.op : null);

const MAX_ERROR = 4000;
/** Agent errors can be long (a tool's stderr); the record's error field holds 4096 characters. */
export const clipError = (s: string): string => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s);

const write = (op: OpRecord): Step => ({ kind: "write", op });
const refuse = (why: string): Step => ({ kind: "refuse", why });
const ended = (op: OpRecord, state: OpState, now: number, extra: Partial<OpRecord> = {}): OpRecord => ({
  ...op,
  state,
  updatedAt: now,
  finishedAt: now,
  ...extra,
});

/** The agent takes up an op: `run` says whether to execute it, else `why` it was settled instead. */
export type StartStep =
  | { kind: "write"; op: OpRecord; run: true }
  | { kind: "write"; op: OpRecord; run: false; why: string }
  | { kind: "refuse"; why: string };

/**
 * start (agent): queued or running → running with attempts + 1 (a running op is one redelivered
 * after its agent died); past `maxAttempts` → failed instead; cancelling → cancelled without
 * running; over → refused.
 */
export function startOp(op: OpRecord, now: number, maxAttempts = MAX_WORK_ATTEMPTS): StartStep {
  if (isTerminal(op)) return { kind: "refuse", why: `already ${op.state}` };
  if (op.state === "cancelling") {
    return { kind: "write", op: ended(op, "cancelled", now), run: false, why: "cancelled before it started" };
  }
  if (op.attempts + 1 > maxAttempts) {
    const last = op.error ? `: ${op.error}` : "";
    const error = clipError(
      `gave up after ${op.attempts} attempts; the last ${op.phase ? `was interrupted while ${op.phase}` : "ended"}${last}`,
    );
    return {
      kind: "write",
      op: ended(op, "failed", now, { error }),
      run: false,
      why: "gave up: too many attempts",
    };
  }
  const next: OpRecord = {
    ...op,
    state: "running",
    attempts: op.attempts + 1,
    startedAt: now,
    updatedAt: now,
    phase: "resolving",
    phases: [{ phase: "resolving", at: now }],
    bytesTotal: undefined,
    error: undefined,
    result: undefined,
  };
  return { kind: "write", op: next, run: true };
}

/** phase (agent): a running op records its phase; refused once a cancel was asked for or when it is not running. */
export function phaseOp(op: OpRecord, phase: Phase, bytesTotal: number | undefined, now: number): Step {
  if (cancelRequested(op)) return refuse("cancelled");
  if (op.state !== "running") return refuse(`op is ${op.state} elsewhere`);
  if (op.phase === phase && (bytesTotal === undefined || op.bytesTotal === bytesTotal))
    return { kind: "keep" };
  const phases = op.phase === phase ? op.phases : [...(op.phases ?? []), { phase, at: now }].slice(-16);
  return write({ ...op, phase, phases, bytesTotal: bytesTotal ?? op.bytesTotal, updatedAt: now });
}

/** touch (agent): a running op shows it is alive (a long download must not look stale). */
export function touchOp(op: OpRecord, now: number): Step {
  return op.state === "running" ? write({ ...op, updatedAt: now }) : refuse(`op is ${op.state}`);
}

/** How the agent's run ended. */
export type OpOutcome =
  | { state: "succeeded"; result: NonNullable<OpRecord["result"]> }
  /** A failed op may still carry a result (the hook that failed it, with --hook-failure rollback). */
  | { state: "failed"; error: string; result?: NonNullable<OpRecord["result"]> }
  | { state: "cancelled"; error?: string };

/** finish (agent): any active op → the outcome's state; an op already over (reaped, cancelled while queued) is refused. */
export function finishOp(op: OpRecord, outcome: OpOutcome, now: number): Step {
  if (isTerminal(op)) return refuse(`already ${op.state}`);
  if (outcome.state === "succeeded")
    return write(ended(op, "succeeded", now, { result: outcome.result, error: undefined }));
  if (outcome.state === "failed")
    return write(
      ended(op, "failed", now, {
        error: clipError(outcome.error),
        ...(outcome.result ? { result: outcome.result } : {}),
      }),
    );
  return write(ended(op, "cancelled", now, { error: outcome.error ? clipError(outcome.error) : undefined }));
}

/** requeue (agent stopping mid-op): running → queued, so the restarted agent runs it again. */
export function requeueOp(op: OpRecord, now: number): Step {
  if (op.state !== "running") return refuse(`op is ${op.state}, not running`);
  return write({
    ...op,
    state: "queued",
    phase: undefined,
    updatedAt: now,
    // The record's phase is the one `phaseOp` kept current, not the one the op started in.
    error: `interrupted: the agent stopped while ${op.phase ?? "starting"}`,
  });
}

/**
 * cancel (user): queued → cancelled outright; running → cancelling (the agent is signalled after
 * the write); cancelling → kept (the signal is sent again); over → refused.
 */
export function cancelOp(op: OpRecord, actor: string, now: number): Step {
  if (isTerminal(op)) return refuse(`operation ${op.id} is already ${op.state}`);
  if (op.state === "queued") {
    return write(ended(op, "cancelled", now, { error: `cancelled by ${actor} before it started` }));
  }
  if (op.state === "running") return write({ ...op, state: "cancelling", updatedAt: now });
  return { kind: "keep" };
}

/** dismiss (user): a finished op is hidden from the active list (it stays in history); active ops are refused. */
export function dismissOp(op: OpRecord, now: number): Step {
  if (isActive(op)) return refuse(`operation ${op.id} is ${op.state}; only finished ops can be dismissed`);
  return op.dismissed ? { kind: "keep" } : write({ ...op, dismissed: true, updatedAt: now });
}

/** retry (user): failed → queued with its outcome cleared (attempts keep counting); anything else is refused. */
export function retryOp(op: OpRecord, now: number): Step {
  if (op.state !== "failed")
    return refuse(`operation ${op.id} is ${op.state}; only failed ops can be retried`);
  const { error: _e, phase: _p, startedAt: _s, finishedAt: _f, result: _r, ...rest } = op;
  return write({ ...rest, state: "queued", dismissed: false, updatedAt: now });
}

/** reap (controller): an active op ends with `reason`, cancelled if a cancel was asked for, else failed. */
export function reapOp(op: OpRecord, reason: string, now: number): Step {
  if (isTerminal(op)) return refuse(`already ${op.state}`);
  return write(ended(op, reapedState(op), now, { error: reason }));
}
