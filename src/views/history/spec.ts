import type { ViewSpec } from "../types.js";

/** The audit trail from the controller, newest first. */
export const spec = {
  id: "history",
  title: "History",
  names: ["history", "hist", "h"],
  jumpKey: "4",
  commands: {
    "view.refresh": {
      description: "reload (history, gallery)",
      category: "general",
      layer: "global",
      views: ["history", "install"],
      keys: ["ctrl+r"],
      hint: "reload",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    history: typeof spec;
  }
}
