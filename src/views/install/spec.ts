import type { ViewSpec } from "../types.js";

/** The install picker: choose a backend from the gallery, then the nodes (the backend is the parameter). */
export const spec = {
  id: "install",
  title: "Install",
  names: ["install", "i"],
  openedBy: "install.open",
  commands: {
    "install.open": {
      description: "install picker: choose a backend, then nodes",
      category: "actions",
      layer: "global",
      sends: ["install"],
      keys: ["i"],
      hint: "install",
    },
    "picker.toggle": {
      description: "select / unselect the node",
      category: "install picker",
      layer: "global",
      views: ["install"],
      keys: ["space"],
      hint: "select",
    },
    "picker.all": {
      description: "select every node the backend resolves on / none",
      category: "install picker",
      layer: "global",
      views: ["install"],
      keys: ["*"],
      hint: "all",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    install: typeof spec;
  }
}
