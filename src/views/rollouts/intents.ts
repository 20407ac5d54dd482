import type { IntentContext, IntentHandler } from "../../store/commands.js";
import { listNames } from "../../format/rollouts.js";
import type { IntentOf } from "../../store/types.js";

interface RolloutRef {
  id: string;
  /** How the rollout reads in a toast: `llama-cpp 1.0 → 1.1`. */
  label: string;
}

declare module "../../store/types.js" {
  interface IntentTypes {
    rolloutPause: RolloutRef;
    rolloutResume: RolloutRef;
    rolloutPromote: RolloutRef & { wave: number; waves: number };
    /** What an abort now does: the nodes it moved are reverted, the ones upgrading cancelled. */
    rolloutAbort: RolloutRef & { revert: string[]; cancel: string[] };
    rolloutDismiss: RolloutRef;
  }
}

type Kind = "rolloutPause" | "rolloutResume" | "rolloutPromote" | "rolloutAbort" | "rolloutDismiss";
const METHOD = {
  rolloutPause: ["rollouts.pause", "pause"],
  rolloutResume: ["rollouts.resume", "resume"],
  rolloutPromote: ["rollouts.promote", "promote"],
  rolloutAbort: ["rollouts.abort", "abort"],
  rolloutDismiss: ["rollouts.dismiss", "dismiss"],
} as const satisfies Record<Kind, readonly [string, string]>;

/** Call the rollout's method; the reply's state (and reason) is the toast. */
function run(intent: IntentOf<Kind>, { api, actor, attempt }: IntentContext) {
  const [method, verb] = METHOD[intent.kind];
  return attempt(`${verb} rollout ${intent.label}`, async () => {
    const r = await api.call(method, { id: intent.id, actor });
    const why = r.rollout.reason ? `: ${r.rollout.reason}` : "";
    return {
      level: "ok",
      text: `rollout ${intent.label} is ${r.rollout.state}${r.rollout.dismissed ? " (dismissed)" : ""}${why}`,
    };
  });
}

const rolloutPause: IntentHandler<"rolloutPause"> = { run };
const rolloutResume: IntentHandler<"rolloutResume"> = { run };
const rolloutDismiss: IntentHandler<"rolloutDismiss"> = { run };

const rolloutPromote: IntentHandler<"rolloutPromote"> = {
  describe: (intent) => ({
    intent,
    title: `Promote rollout ${intent.label}`,
    lines: [
      intent.wave + 1 < intent.waves
        ? `Wave ${intent.wave + 1} of ${intent.waves} skips the rest of its soak; wave ${intent.wave + 2} starts now.`
        : `Wave ${intent.wave + 1} of ${intent.waves} (the last) skips the rest of its soak.`,
      "Failures so far are accepted: the budget counts the ones after.",
    ],
    action: "Promote",
  }),
  run,
};

const rolloutAbort: IntentHandler<"rolloutAbort"> = {
  describe: (intent) => ({
    intent,
    title: `Abort rollout ${intent.label}`,
    lines: [
      intent.revert.length > 0
        ? `Reverted to their previous generation (${intent.revert.length}): ${listNames(intent.revert)}`
        : "No node has been upgraded yet: nothing to revert.",
      ...(intent.cancel.length > 0
        ? [`Cancelled, the old version stays (${intent.cancel.length}): ${listNames(intent.cancel)}`]
        : []),
      "Nodes still waiting are not touched.",
    ],
    action: "Abort",
  }),
  run,
};

export const intents = { rolloutPause, rolloutResume, rolloutPromote, rolloutAbort, rolloutDismiss };
