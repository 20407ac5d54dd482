import type { ViewSpec } from "../types.js";

/** Active operations with live progress, and failed ones until dismissed. */
export const spec = {
  id: "ops",
  title: "Operations",
  names: ["ops", "operations", "op", "o"],
  jumpKey: "3",
  commands: {
    "ops.all": {
      description: "show all operations / only active, failed and just finished ones",
      category: "table",
      layer: "global",
      views: ["ops"],
      keys: ["f"],
      hint: "all/active",
    },
    "op.cancel": {
      description: "cancel the selected operation (or the whole fan-out)",
      category: "actions",
      layer: "global",
      views: ["ops", "op"],
      sends: ["cancel"],
      keys: ["c"],
      hint: "cancel",
    },
    "op.dismiss": {
      description: "dismiss the selected failed operation",
      category: "actions",
      layer: "global",
      views: ["ops", "op"],
      sends: ["dismiss"],
      keys: ["x"],
      hint: "dismiss",
    },
    "op.retry": {
      description: "retry the selected failed operation",
      category: "actions",
      layer: "global",
      views: ["ops", "op"],
      sends: ["retry"],
      keys: ["R"],
      hint: "retry",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    ops: typeof spec;
  }
}
