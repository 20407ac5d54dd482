import type { ViewSpec } from "../types.js";

/** One backend: a row per node that has it (opened from Backends, with the backend as parameter). */
export const spec = {
  id: "backend",
  title: "Backend",
  names: [],
  commands: {},
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    backend: typeof spec;
  }
}
