export * from "./context.js";
export * from "./useTerminalSize.js";
export * from "./useNow.js";
export * from "./useKeys.js";
export * from "./useTable.js";
export * from "./useToastExpiry.js";
