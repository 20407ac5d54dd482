import { abortEffect, fromVersion, toVersion } from "../../format/rollouts.js";
import type { CommandId } from "../../keymap/registry.js";
import { rolloutEnded, type Rollout, type RolloutNode } from "../../protocol/index.js";
import type { CommandRunner, DashActions } from "../../store/index.js";

export const rolloutLabel = (r: Rollout, rows: readonly RolloutNode[] | undefined): string =>
  `${r.backend} ${fromVersion(rows)} → ${toVersion(r)}`;

/** p, P, A or x on a rollout (a row of Rollouts, or its detail): the intent, or why it does not apply. */
export function runRolloutAction(
  cmd: CommandId,
  r: Rollout | undefined,
  rows: readonly RolloutNode[],
  runner: CommandRunner,
  toast: DashActions["toast"],
): boolean {
  if (!["rollout.pause", "rollout.promote", "rollout.abort", "rollout.dismiss"].includes(cmd)) return false;
  if (!r) {
    toast("warn", "no rollout selected");
    return true;
  }
  const ref = { id: r.id, label: rolloutLabel(r, rows) };
  const refuse = (why: string) => toast("warn", `rollout ${ref.label} is ${r.state}: ${why}`);
  switch (cmd) {
    case "rollout.pause":
      if (r.state === "running" || r.state === "planned") runner.request({ kind: "rolloutPause", ...ref });
      else if (r.state === "paused") runner.request({ kind: "rolloutResume", ...ref });
      else refuse("only a running rollout can be paused, a paused one resumed");
      return true;
    case "rollout.promote":
      if (r.state === "running" || r.state === "paused")
        runner.request({ kind: "rolloutPromote", ...ref, wave: r.wave, waves: r.waves.length });
      else refuse("only a running or paused rollout can be promoted");
      return true;
    case "rollout.abort":
      if (!rolloutEnded(r.state) && r.state !== "aborting")
        runner.request({ kind: "rolloutAbort", ...ref, ...abortEffect(r, rows) });
      else refuse("it cannot be aborted");
      return true;
    default:
      if (rolloutEnded(r.state)) runner.request({ kind: "rolloutDismiss", ...ref });
      else refuse("only an ended rollout can be dismissed (abort it first with A)");
      return true;
  }
}
