import type { ViewSpec } from "../types.js";

/** Every key of the keymap, generated from it. */
export const spec = {
  id: "help",
  title: "Help",
  names: ["help", "keys"],
  openedBy: "app.help",
  commands: {},
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    help: typeof spec;
  }
}
