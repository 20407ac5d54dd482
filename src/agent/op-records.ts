import type { ClusterClient, Entry } from "../client/cluster-client.js";
import {
  decode,
  isTerminal,
  OpRecord,
  MAX_WORK_ATTEMPTS,
  opKey,
  type OpState,
  type Phase,
} from "../protocol/index.js";
import { CancelledError } from "./errors.js";
import type { OpResult } from "./executor.js";

/** Run it (the record as now written), or skip it: it is over, or `start` has just ended it. */
export type StartDecision = { action: "skip"; why: string } | { action: "run"; record: OpRecord };

export type Outcome =
  | { state: "succeeded"; result: OpResult }
  | { state: "failed"; error: string }
  | { state: "cancelled"; error?: string };

export class MalformedRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedRecordError";
  }
}

const MAX_ERROR = 4000;
const clip = (s: string) => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s);

/**
 * The agent's side of the op lifecycle. Every change is a compare-and-set on the op record; a
 * write that loses re-reads and decides again (a `cancelling` record means stop).
 */
export class OpRecords {
  constructor(
    private readonly client: ClusterClient,
    private readonly nodeId: string,
  ) {}

  key(opId: string): string {
    return opKey(this.nodeId, opId);
  }

  /** The op record; throws MalformedRecordError for one that does not validate. */
  async read(opId: string): Promise<Entry<OpRecord> | null> {
    const e = await this.client.bucket("ops").get(this.key(opId));
    if (!e || e.operation !== "PUT") return null;
    const d = decode(OpRecord, e.value);
    if (!d.ok) throw new MalformedRecordError(`op record ${this.key(opId)}: ${d.error}`);
    return { value: d.value, revision: e.revision };
  }

  /** Turn a record into `running` (attempts + 1), or say why it must not run. */
  async start(opId: string, now = Date.now()): Promise<StartDecision> {
    let decision: StartDecision = { action: "skip", why: "missing" };
    const r = await this.client.modify("ops", this.key(opId), (cur) => {
      if (isTerminal(cur.state)) {
        decision = { action: "skip", why: `already ${cur.state}` };
        return null;
      }
      if (cur.state === "cancelling") {
        const next = this.ended(cur, "cancelled", now);
        decision = { action: "skip", why: "cancelled before it started" };
        return next;
      }
      if (cur.attempts + 1 > MAX_WORK_ATTEMPTS) {
        const last = cur.error ? `: ${cur.error}` : "";
        const next = this.ended(cur, "failed", now, {
          error: clip(
            `gave up after ${cur.attempts} attempts; the last ${cur.phase ? `was interrupted while ${cur.phase}` : "ended"}${last}`,
          ),
        });
        decision = { action: "skip", why: "gave up: too many attempts" };
        return next;
      }
      const next: OpRecord = {
        ...cur,
        state: "running",
        attempts: cur.attempts + 1,
        startedAt: now,
        updatedAt: now,
        phase: "resolving",
        bytesTotal: undefined,
        error: undefined,
        result: undefined,
      };
      decision = { action: "run", record: next };
      return next;
    });
    if (!r) return { action: "skip", why: "missing" };
    return decision;
  }

  private ended(cur: OpRecord, state: OpState, now: number, extra: Partial<OpRecord> = {}): OpRecord {
    return { ...cur, state, updatedAt: now, finishedAt: now, ...extra };
  }

  /** Record a phase change; throws CancelledError when the op is being cancelled. */
  async setPhase(opId: string, phase: Phase, bytesTotal?: number): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) => {
      if (cur.state === "cancelling" || cur.state === "cancelled") throw new CancelledError();
      if (cur.state !== "running") throw new CancelledError(`op is ${cur.state} elsewhere`);
      if (cur.phase === phase && (bytesTotal === undefined || cur.bytesTotal === bytesTotal)) return null;
      return { ...cur, phase, bytesTotal: bytesTotal ?? cur.bytesTotal, updatedAt: Date.now() };
    });
  }

  /** Keep a long download from looking stale to the reaper. */
  async touch(opId: string): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) =>
      cur.state === "running" ? { ...cur, updatedAt: Date.now() } : null,
    );
  }

  /** Write the final state; a record already final (reaped, cancelled while queued) is returned as is. */
  async finish(opId: string, outcome: Outcome, now = Date.now()): Promise<OpRecord | null> {
    const r = await this.client.modify("ops", this.key(opId), (cur) => {
      if (isTerminal(cur.state)) return null;
      if (outcome.state === "succeeded") {
        return this.ended(cur, "succeeded", now, { result: outcome.result, error: undefined });
      }
      if (outcome.state === "failed") return this.ended(cur, "failed", now, { error: clip(outcome.error) });
      return this.ended(cur, "cancelled", now, { error: outcome.error ? clip(outcome.error) : undefined });
    });
    return r?.value ?? null;
  }

  /** The agent is stopping mid-op: hand the op back so the restarted agent runs it again. */
  async requeue(opId: string): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) =>
      cur.state === "running"
        ? {
            ...cur,
            state: "queued",
            phase: undefined,
            updatedAt: Date.now(),
            // The record's phase is the one setPhase kept current, not the one the op started in.
            error: `interrupted: the agent stopped while ${cur.phase ?? "starting"}`,
          }
        : null,
    );
  }
}
