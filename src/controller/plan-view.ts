import {
  firstRows,
  REPLY_BYTES,
  REPLY_ROWS,
  summarizePlan,
  type RolloutPlanView,
} from "../protocol/index.js";
import type { RolloutPlan } from "./decide/rollout.js";

/**
 * A plan as `rollouts.plan` returns it, bounded whatever the fleet: the totals over every node,
 * and the first moves of each wave (the row budget shared evenly, so every wave names some)
 * and the first skipped nodes.
 */
export function planView(plan: RolloutPlan): RolloutPlanView {
  const summary = summarizePlan(plan.waves, plan.skipped);
  const n = Math.max(1, plan.waves.length);
  const waves = plan.waves.map((w) => firstRows(w, Math.floor(REPLY_ROWS / n), Math.floor(REPLY_BYTES / n)));
  const skipped = firstRows(plan.skipped);
  return {
    ...plan,
    ...summary,
    waves: waves.map((w) => w.rows),
    skipped: skipped.rows,
    truncated: skipped.cut || waves.some((w) => w.cut),
  };
}
