export * from "./media-types.js";
export * from "./reference.js";
export * from "./auth.js";
export * from "./registry-client.js";
export * from "./image-builder.js";
