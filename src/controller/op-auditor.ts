import { isTerminal, type OpRecord } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import type { LeaderDuty } from "./duties.js";
import { mapLimit } from "./map-limit.js";
import type { ClusterView } from "./view.js";

/** JetStream's duplicate window: a re-publish with the same msgID inside it is dropped. */
const DEDUPE_WINDOW_MS = 120_000;
/**
 * Replayed outcomes in flight at once. A fan-out can finish 20,000 ops inside the window: posting
 * them all in one synchronous loop held the event loop for seconds and queued the lease renewal
 * behind 20,000 publishes on the connection, so the new leader lost its lease at every take-over.
 */
const REPLAY_CONCURRENCY = 64;

/**
 * Leader only: writes every op's outcome (succeeded, failed, cancelled) to the EVENTS stream, so
 * history keeps it after the record leaves the ops bucket. Agents only move op records; this is
 * where their results become audit history. A new leader re-publishes outcomes from the last two
 * minutes with the same msgIDs, so a takeover neither loses nor duplicates them.
 */
export class OpAuditor implements LeaderDuty {
  readonly name = "op-auditor";
  private off?: () => void;
  private replay?: Promise<void>;

  constructor(
    private readonly view: ClusterView,
    private readonly audit: Audit,
  ) {}

  start(): void {
    if (this.off) return;
    const since = Date.now() - DEDUPE_WINDOW_MS;
    const recent: Array<[string, OpRecord]> = [];
    for (const [key, e] of this.view.ops) {
      if (isTerminal(e.value.state) && (e.value.finishedAt ?? e.value.updatedAt) >= since)
        recent.push([key, e.value]);
    }
    const off = this.view.onChange((c, initial) => {
      if (initial || c.type !== "op" || !c.value) return;
      if (isTerminal(c.value.state) && (!c.prev || !isTerminal(c.prev.state)))
        void this.record(c.key, c.value, c.prev);
    });
    this.off = off;
    // Awaiting each ack paces the replay and yields the event loop between publishes; it ends
    // early when this term does (the next leader replays again, and msgIDs drop duplicates).
    const replay = mapLimit(recent, REPLAY_CONCURRENCY, async ([key, op]) => {
      if (this.off === off) await this.record(key, op, null);
    }).then(() => {});
    this.replay = replay;
    void replay.finally(() => {
      if (this.replay === replay) this.replay = undefined;
    });
  }

  /** Settles once the take-over replay has stopped publishing. */
  async stop(): Promise<void> {
    this.off?.();
    this.off = undefined;
    await this.replay;
  }

  private record(key: string, op: OpRecord, prev: OpRecord | null): Promise<void> {
    const from = prev ? `${prev.state} -> ` : "";
    const why = op.error ? `: ${op.error}` : op.result?.noop ? " (already installed)" : "";
    return this.audit.post(
      "op.state",
      {
        actor: `node:${op.nodeId}`,
        nodeId: op.nodeId,
        opId: op.id,
        backend: op.backend,
        message: `${from}${op.state}${why}`.slice(0, 4096),
        op,
        at: op.finishedAt ?? op.updatedAt,
      },
      `${key}@${op.state}@${op.finishedAt ?? op.updatedAt}`,
    );
  }
}
