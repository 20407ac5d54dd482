export * from "../../src/demo/processes.js";
