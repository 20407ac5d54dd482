export * from "./schema.js";
export * from "./migrate.js";
export * from "./config.js";
