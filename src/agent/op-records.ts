import type { ClusterClient, Entry } from "../client/cluster-client.js";
import { MalformedRecordError } from "../client/errors.js";
import {
  finishOp,
  type OpRecord,
  opKey,
  phaseOp,
  requeueOp,
  startOp,
  touchOp,
  written,
  type OpOutcome,
  type Phase,
} from "../protocol/index.js";
import { CancelledError } from "./errors.js";

/** Run it (the record as now written), or skip it: it is over, or `start` has just ended it. */
export type StartDecision = { action: "skip"; why: string } | { action: "run"; record: OpRecord };

export type Outcome = OpOutcome;

export { MalformedRecordError };

/**
 * The agent's side of the op lifecycle (its transitions are in protocol/op-lifecycle.ts). Every
 * change is a compare-and-set on the op record; a write that loses re-reads and decides again (a
 * `cancelling` record means stop).
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
    return this.client.get("ops", this.key(opId));
  }

  /** Turn a record into `running` (attempts + 1), or say why it must not run. */
  async start(opId: string, now = Date.now()): Promise<StartDecision> {
    let decision: StartDecision = { action: "skip", why: "missing" };
    const r = await this.client.modify("ops", this.key(opId), (cur) => {
      const step = startOp(cur, now);
      if (step.kind === "refuse") {
        decision = { action: "skip", why: step.why };
        return null;
      }
      decision = step.run ? { action: "run", record: step.op } : { action: "skip", why: step.why };
      return step.op;
    });
    if (!r) return { action: "skip", why: "missing" };
    return decision;
  }

  /** Record a phase change; throws CancelledError when the op is being cancelled. */
  async setPhase(opId: string, phase: Phase, bytesTotal?: number): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) => {
      const step = phaseOp(cur, phase, bytesTotal, Date.now());
      if (step.kind === "refuse") throw new CancelledError(step.why);
      return written(step);
    });
  }

  /** Keep a long download from looking stale to the reaper. */
  async touch(opId: string): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) => written(touchOp(cur, Date.now())));
  }

  /**
   * Write the final state; a record already final (reaped, cancelled while queued) is returned as
   * is. The agent owns its running op: if the record has become unreadable, `running` (the record
   * as this agent last wrote it) is ended `failed` over it, with the reason.
   */
  async finish(
    opId: string,
    outcome: Outcome,
    now = Date.now(),
    running?: OpRecord,
  ): Promise<OpRecord | null> {
    const r = await this.client.modify(
      "ops",
      this.key(opId),
      (cur) => written(finishOp(cur, outcome, now)),
      10,
      running
        ? (bad) => {
            const why = `op record became unreadable (${bad.reason.slice(0, 300)})`;
            const error = outcome.state === "failed" && outcome.error ? `${why}; ${outcome.error}` : why;
            return written(finishOp(running, { state: "failed", error: error.slice(0, 1024) }, now));
          }
        : undefined,
    );
    return r?.value ?? null;
  }

  /** The agent is stopping mid-op: hand the op back so the restarted agent runs it again. */
  async requeue(opId: string): Promise<void> {
    await this.client.modify("ops", this.key(opId), (cur) => written(requeueOp(cur, Date.now())));
  }
}
