export * from "./cluster-client.js";
export * from "./connection.js";
export * from "./api-client.js";
export * from "./watch.js";
export * from "./topology.js";
export * from "./errors.js";
export * from "./work-queue.js";
export * from "./audit-stream.js";
