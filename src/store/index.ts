export * from "./types.js";
export * from "./dash-store.js";
export * from "./commands.js";
export * from "./apply-batch.js";
