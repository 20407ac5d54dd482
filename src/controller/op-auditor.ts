import { isTerminal, type OpRecord } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import type { LeaderDuty } from "./duties.js";
import type { ClusterView } from "./view.js";

/** JetStream's duplicate window: a re-publish with the same msgID inside it is dropped. */
const DEDUPE_WINDOW_MS = 120_000;

/**
 * Leader only: writes every op's outcome (succeeded, failed, cancelled) to the EVENTS stream, so
 * history keeps it after the record leaves the ops bucket. Agents only move op records; this is
 * where their results become audit history. A new leader re-publishes outcomes from the last two
 * minutes with the same msgIDs, so a takeover neither loses nor duplicates them.
 */
export class OpAuditor implements LeaderDuty {
  readonly name = "op-auditor";
  private off?: () => void;

  constructor(
    private readonly view: ClusterView,
    private readonly audit: Audit,
  ) {}

  start(): void {
    if (this.off) return;
    const since = Date.now() - DEDUPE_WINDOW_MS;
    for (const [key, e] of this.view.ops) {
      if (isTerminal(e.value.state) && (e.value.finishedAt ?? e.value.updatedAt) >= since)
        this.record(key, e.value, null);
    }
    this.off = this.view.onChange((c, initial) => {
      if (initial || c.type !== "op" || !c.value) return;
      if (isTerminal(c.value.state) && (!c.prev || !isTerminal(c.prev.state)))
        this.record(c.key, c.value, c.prev);
    });
  }

  stop(): void {
    this.off?.();
    this.off = undefined;
  }

  private record(key: string, op: OpRecord, prev: OpRecord | null): void {
    const from = prev ? `${prev.state} -> ` : "";
    const why = op.error ? `: ${op.error}` : op.result?.noop ? " (already installed)" : "";
    void this.audit.post(
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
