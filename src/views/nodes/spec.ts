import type { ViewSpec } from "../types.js";

/** Every node: status, capability, GPU, disk, backends and what runs there; enter opens one. */
export const spec = {
  id: "nodes",
  title: "Nodes",
  names: ["nodes", "node", "no"],
  jumpKey: "1",
  commands: {},
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    nodes: typeof spec;
  }
}
