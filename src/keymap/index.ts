export * from "./commands.js";
export * from "./keys.js";
export * from "./keymap.js";
export * from "./dispatcher.js";
export * from "./registry.js";
export * from "./docs.js";
