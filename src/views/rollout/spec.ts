import type { ViewSpec } from "../types.js";

/** One rollout in full (opened from Rollouts, with the rollout id as parameter); p, P, A and x act on it. */
export const spec = {
  id: "rollout",
  title: "Rollout",
  names: [],
  commands: {},
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    rollout: typeof spec;
  }
}
