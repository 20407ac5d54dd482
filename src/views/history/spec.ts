import type { ViewSpec } from "../types.js";

/** The audit trail from the controller, newest first, live. */
export const spec = {
  id: "history",
  title: "History",
  names: ["history", "hist", "h"],
  jumpKey: "4",
  commands: {
    "history.follow": {
      description: "follow new events (stay at the top) / hold the rows on screen",
      category: "table",
      layer: "global",
      views: ["history"],
      keys: ["f"],
      hint: "follow",
    },
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
