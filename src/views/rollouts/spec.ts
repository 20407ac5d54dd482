import type { ViewSpec } from "../types.js";

/** Every rollout: backend, from → to, wave, a bar of its nodes, state and reason; enter opens one. */
export const spec = {
  id: "rollouts",
  title: "Rollouts",
  names: ["rollouts", "rollout", "ro"],
  jumpKey: "6",
  commands: {
    "rollout.pause": {
      description: "pause / resume the selected rollout",
      category: "actions",
      layer: "global",
      views: ["rollouts", "rollout"],
      sends: ["rolloutPause", "rolloutResume"],
      keys: ["p"],
      hint: "pause/resume",
    },
    "rollout.promote": {
      description: "promote the selected rollout: start its next wave now, skipping the soak",
      category: "actions",
      layer: "global",
      views: ["rollouts", "rollout"],
      sends: ["rolloutPromote"],
      keys: ["P"],
      hint: "promote",
    },
    "rollout.abort": {
      description: "abort the selected rollout and revert the nodes it moved",
      category: "actions",
      layer: "global",
      views: ["rollouts", "rollout"],
      sends: ["rolloutAbort"],
      keys: ["A"],
      hint: "abort",
    },
    "rollout.dismiss": {
      description: "dismiss the selected ended rollout",
      category: "actions",
      layer: "global",
      views: ["rollouts", "rollout"],
      sends: ["rolloutDismiss"],
      keys: ["x"],
      hint: "dismiss",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    rollouts: typeof spec;
  }
}
