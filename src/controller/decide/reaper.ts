import { roughDuration } from "./duration.js";
import {
  OFFLINE_GRACE_MS,
  STALE_OP_MS,
  isTerminal,
  needsAttention,
  reapedState,
  type NodeRecord,
  type OpRecord,
  type OpState,
} from "../../protocol/index.js";

export interface ReapRules {
  /** Queued work for an offline/unhealthy node waits this long after its last heartbeat. */
  offlineGraceMs: number;
  /** An active op with no update for this long is stale. */
  staleOpMs: number;
  /** A queued op older than this with no work message in the stream is an orphan. */
  orphanAfterMs: number;
  /** A `cancelling` op not settled after this long gets its cancel signal again. */
  cancelResendMs: number;
  /** Settled ops (succeeded, cancelled, dismissed failures) leave the ops bucket after this long. */
  retentionMs: number;
}

export const DEFAULT_REAP_RULES: ReapRules = {
  offlineGraceMs: OFFLINE_GRACE_MS,
  staleOpMs: STALE_OP_MS,
  orphanAfterMs: 30_000,
  cancelResendMs: 30_000,
  retentionMs: 24 * 60 * 60_000,
};

export interface KeyedOp {
  key: string;
  op: OpRecord;
}

export interface Reaping {
  /**
   * Ops to end now, with the state they end in (the write derives it again from the record it
   * reads) and why. Their work messages are purged.
   */
  end: Array<{
    key: string;
    opId: string;
    nodeId: string;
    state: Extract<OpState, "failed" | "cancelled">;
    reason: string;
  }>;
  /** Queued ops to check for a missing work message (and re-publish it if it is missing). */
  orphanCandidates: Array<{ key: string; opId: string; nodeId: string }>;
  /** `cancelling` ops whose cancel signal is sent again. */
  resendCancel: Array<{ key: string; opId: string; nodeId: string }>;
  /** Settled records past retention, deleted from the ops bucket (history stays in EVENTS). */
  delete: string[];
}

/**
 * One reaper pass over every op. Rules, in order:
 * - queued work for a draining node ends at once;
 * - queued (or cancelling) work for an offline, unhealthy or vanished node ends once the node
 *   has been silent longer than the grace window;
 * - any active op without an update for `staleOpMs` ends as stale, except queued work on a
 *   healthy node that reports running ops (it is waiting its turn, not abandoned);
 * - a cancelling op always ends `cancelled`, everything else `failed`.
 */
export function planReaping(
  ops: readonly KeyedOp[],
  nodes: ReadonlyMap<string, NodeRecord>,
  now: number,
  rules: ReapRules,
): Reaping {
  const out: Reaping = { end: [], orphanCandidates: [], resendCancel: [], delete: [] };
  for (const { key, op } of ops) {
    const ref = { key, opId: op.id, nodeId: op.nodeId };
    if (isTerminal(op)) {
      const settled = !needsAttention(op);
      if (settled && now - (op.finishedAt ?? op.updatedAt) > rules.retentionMs) out.delete.push(key);
      continue;
    }
    const endAs = reapedState(op);
    const node = nodes.get(op.nodeId);
    if (op.state === "queued" && node?.status === "draining") {
      out.end.push({ ...ref, state: endAs, reason: `node ${op.nodeId} is draining; queued work dropped` });
      continue;
    }
    if (op.state !== "running") {
      const silentSince = node ? node.lastHeartbeatAt : op.createdAt;
      const gone = !node || node.status === "offline" || node.status === "unhealthy";
      if (gone && now - silentSince > rules.offlineGraceMs) {
        const why = node
          ? `node ${op.nodeId} is ${node.status} and silent for ${roughDuration(now - silentSince)}`
          : `node ${op.nodeId} is unknown`;
        out.end.push({
          ...ref,
          state: endAs,
          reason: `${why}; gave up after the ${roughDuration(rules.offlineGraceMs)} grace window`,
        });
        continue;
      }
    }
    const idle = now - op.updatedAt;
    const waitingItsTurn = op.state === "queued" && node?.status === "healthy" && node.last.runningOps > 0;
    if (idle > rules.staleOpMs && !waitingItsTurn) {
      out.end.push({ ...ref, state: endAs, reason: `stale: no update for ${roughDuration(idle)}` });
      continue;
    }
    if (op.state === "queued" && idle > rules.orphanAfterMs && node && node.status !== "pending") {
      out.orphanCandidates.push(ref);
    }
    if (op.state === "cancelling" && idle > rules.cancelResendMs) out.resendCancel.push(ref);
  }
  return out;
}
