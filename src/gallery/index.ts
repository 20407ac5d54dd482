export * from "./types.js";
export * from "./parse.js";
export * from "./compat.js";
export * from "./version.js";
export * from "./resolve.js";
export * from "./load.js";
