import { rolloutEnded, type Rollout } from "../../protocol/index.js";

/**
 * Ended rollouts do not pile up: beyond the newest `keepEnded` that may go, and once ended
 * longer than `keepMs` ago, a rollout's head and rows are removed. Only rollouts that need
 * nobody's attention may go: succeeded ones and dismissed ones. A failed or aborted rollout
 * stays until an operator dismisses it (it also stops auto-upgrade retrying its target).
 */
export interface RolloutRetention {
  keepEnded: number;
  keepMs: number;
  /** Rows whose head does not exist (a start that died between rows and head) go after this long. */
  orphanAfterMs: number;
}

export const DEFAULT_ROLLOUT_RETENTION: RolloutRetention = {
  keepEnded: 50,
  keepMs: 7 * 24 * 3600_000,
  orphanAfterMs: 3600_000,
};

export interface RetentionRow {
  key: string;
  rollout: string;
  /** When the row last changed. */
  at: number;
}

export interface RetentionPlan {
  /** Rollout ids whose heads go, oldest end first (their rows go first). */
  heads: string[];
  /** Row keys to delete: the removed rollouts' and orphans. */
  rows: string[];
}

export const mayBeRemoved = (r: Rollout): boolean =>
  rolloutEnded(r.state) && (r.state === "succeeded" || r.dismissed);

export function planRetention(
  heads: readonly Rollout[],
  rows: readonly RetentionRow[],
  now: number,
  rules: RolloutRetention = DEFAULT_ROLLOUT_RETENTION,
): RetentionPlan {
  const endedAt = (r: Rollout) => r.endedAt ?? r.updatedAt;
  const removable = heads.filter(mayBeRemoved).sort((a, b) => endedAt(b) - endedAt(a));
  const going = removable
    .slice(rules.keepEnded)
    .filter((r) => now - endedAt(r) > rules.keepMs)
    .reverse();
  const ids = new Set(going.map((r) => r.id));
  const known = new Set(heads.map((r) => r.id));
  return {
    heads: going.map((r) => r.id),
    rows: rows
      .filter((x) => ids.has(x.rollout) || (!known.has(x.rollout) && now - x.at > rules.orphanAfterMs))
      .map((x) => x.key),
  };
}
