import * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import { healthService, type HealthReply } from "../agent/health-grpc.js";

/**
 * The demo's synthetic backend: started by its run.sh as LocalAI starts a backend
 * (`run.sh --addr 127.0.0.1:PORT`), it serves LocalAI's `backend.Backend/Health` and answers
 * "OK" — or, for the demo's broken build (`--never-answer`), accepts the call and never answers.
 */
const { values } = parseArgs({
  options: {
    addr: { type: "string" },
    name: { type: "string", default: "backend" },
    version: { type: "string", default: "" },
    "never-answer": { type: "boolean", default: false },
  },
  strict: false,
});
const label = `${String(values.name)} ${String(values.version)}`.trim();
const addr = typeof values.addr === "string" ? values.addr : undefined;
if (!addr) {
  process.stdout.write(`${label} (backplane demo backend); start it with --addr HOST:PORT\n`);
  process.exit(0);
}
const neverAnswer = values["never-answer"] === true;
const server = new grpc.Server();
server.addService(healthService, {
  Health: (_call: unknown, callback: grpc.sendUnaryData<HealthReply>) => {
    if (neverAnswer) return;
    callback(null, { message: "OK" });
  },
});
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`${label}: cannot listen on ${addr}: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(
    `${label}: listening on ${addr}${neverAnswer ? " (broken build: Health never answers)" : ""}\n`,
  );
});
for (const s of ["SIGTERM", "SIGINT"] as const) {
  process.on(s, () => {
    server.forceShutdown();
    process.exit(0);
  });
}
