export * from "./ids.js";
export * from "./subjects.js";
export * from "./constants.js";
export * from "./records.js";
export * from "./op-lifecycle.js";
export * from "./buckets.js";
export * from "./api.js";
export * from "./codec.js";
