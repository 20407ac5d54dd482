export * from "./tokens.js";
export * from "./palettes.js";
export * from "./symbols.js";
export * from "./context.js";
