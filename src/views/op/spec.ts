import type { ViewSpec } from "../types.js";

/** One operation in full (opened from Operations, with the op id as parameter); c, x and R act on it. */
export const spec = {
  id: "op",
  title: "Operation",
  names: [],
  commands: {},
} as const satisfies ViewSpec;

declare module "../../keymap/registry.js" {
  interface ViewSpecs {
    op: typeof spec;
  }
}
