import { z } from "zod";
import { Millis, Text } from "./ids.js";
import { SCHEMA_VERSION } from "./records.js";
import { Amount, DEFAULT_STRATEGY, Strategy } from "./rollout.js";

const v = z.literal(SCHEMA_VERSION, {
  error: `unsupported schema version (this build reads v${SCHEMA_VERSION})`,
});

/**
 * The strategy a rollout gets for every field it does not set (and auto-upgrade's rollouts
 * entirely). Each field has its default, so a record written before a field existed still reads.
 */
export const RolloutDefaults = z.object({
  waves: Strategy.shape.waves.default(() => [...DEFAULT_STRATEGY.waves]),
  maxParallel: Amount.default(DEFAULT_STRATEGY.maxParallel),
  soakMs: Strategy.shape.soakMs.default(DEFAULT_STRATEGY.soakMs),
  maxFailures: Amount.optional(),
  autoPromote: z.boolean().default(DEFAULT_STRATEGY.autoPromote),
  autoRevert: z.boolean().default(DEFAULT_STRATEGY.autoRevert),
});
export type RolloutDefaults = z.infer<typeof RolloutDefaults>;

export const Settings = z.object({
  v,
  autoUpgrade: z.boolean(),
  upgradeCheckIntervalSec: z
    .number()
    .int()
    .min(60)
    .max(7 * 24 * 3600),
  /** Unset: DEFAULT_STRATEGY (read it through `strategyDefaults`). */
  rolloutDefaults: RolloutDefaults.optional(),
  /**
   * Auto-started rollouts admit only inside it (`Sat,Sun 02:00-05:00 UTC`, see window.ts);
   * unset: any time. Kept as text and parsed where used, so a zone this build's Intl lacks
   * does not make the whole record unreadable (auto-upgrade then waits, and says why).
   */
  window: Text(256).optional(),
  updatedAt: Millis,
  updatedBy: Text(128),
});
export type Settings = z.infer<typeof Settings>;

/** The default rollout strategy the settings give (the built-in one when they give none). */
export function strategyDefaults(s: Pick<Settings, "rolloutDefaults"> | null | undefined): Strategy {
  const d = s?.rolloutDefaults;
  if (!d) return { ...DEFAULT_STRATEGY, waves: [...DEFAULT_STRATEGY.waves] };
  return { ...d, waves: [...d.waves] };
}
