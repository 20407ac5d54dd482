export * from "../../src/demo/registry.js";
