import type { ViewSpec } from "../types.js";

/** One node: its summary and installed backends (opened from Nodes, with the node id as parameter). */
export const spec = {
  id: "node",
  title: "Node",
  names: [],
  commands: {
    "node.drain": {
      description: "drain / resume the selected node",
      category: "actions",
      layer: "global",
      views: ["nodes", "node"],
      sends: ["drain", "resume"],
      keys: ["D"],
      hint: "drain/resume",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    node: typeof spec;
  }
}
