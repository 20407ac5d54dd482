import { DEFAULT_HEALTH_RULES, type HealthRules } from "./decide/health.js";
import { DEFAULT_REAP_RULES, type ReapRules } from "./decide/reaper.js";
import { CLAIM_SETTLE_MS } from "./claims.js";
import { DEFAULT_ROLLOUT_RETENTION, type RolloutRetention } from "./decide/rollout-retention.js";
import { REAP_INTERVAL_MS, UPGRADE_CHECK_INTERVAL_MS } from "../protocol/index.js";

/** Every interval and threshold the controller uses; tests shrink them instead of waiting. */
export interface ControllerTimings {
  health: HealthRules;
  reap: ReapRules;
  /** How often the leader evaluates node health. */
  healthTickMs: number;
  reapIntervalMs: number;
  /** Pause between the leader's passes over running rollouts. */
  rolloutIntervalMs: number;
  /** Which ended rollouts the leader removes (see decide/rollout-retention.ts), checked every `everyMs`. */
  rolloutRetention: RolloutRetention & { everyMs: number };
  /** Periodic upgrade check; undefined means the `settings` value (6 h by default). */
  upgradeCheckIntervalMs?: number;
  /** Coalesces checks triggered by finished ops and inventory changes. */
  checkDebounceMs: number;
  /** How long an on-demand check waits for the leader before running locally. */
  checkTimeoutMs: number;
  galleryRefreshMs: number;
  /** A (node, backend) claim whose op record never appeared is abandoned after this long. */
  claimSettleMs: number;
}

export function defaultTimings(over: DeepPartial<ControllerTimings> = {}): ControllerTimings {
  return {
    healthTickMs: over.healthTickMs ?? 1_000,
    reapIntervalMs: over.reapIntervalMs ?? REAP_INTERVAL_MS,
    rolloutIntervalMs: over.rolloutIntervalMs ?? 1_000,
    rolloutRetention: { ...DEFAULT_ROLLOUT_RETENTION, everyMs: 60_000, ...over.rolloutRetention },
    upgradeCheckIntervalMs: over.upgradeCheckIntervalMs,
    checkDebounceMs: over.checkDebounceMs ?? 2_000,
    checkTimeoutMs: over.checkTimeoutMs ?? 120_000,
    galleryRefreshMs: over.galleryRefreshMs ?? 60 * 60_000,
    claimSettleMs: over.claimSettleMs ?? CLAIM_SETTLE_MS,
    health: { ...DEFAULT_HEALTH_RULES, ...over.health },
    reap: { ...DEFAULT_REAP_RULES, ...over.reap },
  };
}

export const DEFAULT_CHECK_INTERVAL_MS = UPGRADE_CHECK_INTERVAL_MS;

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };
