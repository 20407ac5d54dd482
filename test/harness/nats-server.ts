export * from "../../src/demo/nats-server.js";
