import type { ViewSpec } from "../types.js";

/** One row per backend across the cluster (a matrix of nodes when they fit); enter drills in. */
export const spec = {
  id: "backends",
  title: "Backends",
  names: ["backends", "be", "b"],
  jumpKey: "2",
  commands: {
    "backend.upgrade": {
      description:
        "upgrade the selected backend: on the selected node at once, or everywhere from Backends as a rollout in waves (its plan is shown first)",
      category: "actions",
      layer: "global",
      views: ["backends", "backend", "node"],
      sends: ["upgrade", "rolloutStart"],
      keys: ["u"],
      hint: "upgrade",
    },
    "backend.reinstall": {
      description: "reinstall the selected backend (selected node, or everywhere from Backends)",
      category: "actions",
      layer: "global",
      views: ["backends", "backend", "node"],
      sends: ["reinstall"],
      keys: ["r"],
      hint: "reinstall",
    },
    "backend.rollback": {
      description: "roll the selected backend back to its previous generation (the kept ones are listed)",
      category: "actions",
      layer: "global",
      views: ["backends", "backend", "node"],
      sends: ["rollback"],
      keys: ["b"],
      hint: "rollback",
    },
    "backend.delete": {
      description: "delete the selected backend (on the selected node, or everywhere from Backends)",
      category: "actions",
      layer: "global",
      views: ["backends", "backend", "node"],
      sends: ["delete"],
      keys: ["ctrl+d"],
      hint: "delete",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    backends: typeof spec;
  }
}
