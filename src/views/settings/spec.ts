import type { ViewSpec } from "../types.js";

/** Cluster runtime settings: auto-upgrade and the upgrade-check interval. */
export const spec = {
  id: "settings",
  title: "Settings",
  names: ["settings", "set"],
  jumpKey: "5",
  commands: {
    "upgrades.check": {
      description: "check for upgrades now",
      category: "actions",
      layer: "global",
      sends: ["checkUpgrades"],
      keys: ["U"],
      hint: "check",
    },
    "settings.autoUpgrade": {
      description: "toggle auto-upgrade",
      category: "actions",
      layer: "global",
      sends: ["settings"],
      keys: ["a"],
      hint: "auto-upgrade",
    },
  },
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    settings: typeof spec;
  }
}
