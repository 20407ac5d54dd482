// A test backend speaking LocalAI's gRPC Health (backend.Backend/Health), written independently
// of src/agent/health-grpc.ts so the probe's encoding is checked against a second implementation.
// Usage: node health-backend.mjs --mode ok|loading|hang|never|exit [--pidfile F] [--ignore-term]
//        --addr 127.0.0.1:PORT   (LocalAI's run.sh convention, appended by the caller)
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const mode = arg("--mode") ?? "ok";
const addr = arg("--addr");
const pidfile = arg("--pidfile");

// A grandchild in the same process group: the probe must stop it too.
const helper = spawn("sleep", ["1000"], { stdio: "ignore" });
if (pidfile) writeFileSync(pidfile, `${process.pid} ${helper.pid}\n`);
if (args.includes("--ignore-term")) process.on("SIGTERM", () => {});

process.stderr.write(`starting in mode ${mode}\n`);
if (!addr) {
  process.stderr.write("no --addr given\n");
  process.exit(2);
}
if (mode === "exit") {
  process.stderr.write("boom: cannot load libbackend.so\n");
  helper.kill();
  process.exit(1);
}
setInterval(() => {}, 1 << 30);
if (mode !== "never") {
  // Reply { bytes message = 1; }: tag 0x0a, length, bytes.
  const reply = (text) => {
    const b = Buffer.from(text);
    return Buffer.concat([Buffer.from([0x0a, b.length]), b]);
  };
  const server = new grpc.Server();
  server.addService(
    {
      Health: {
        path: "/backend.Backend/Health",
        requestStream: false,
        responseStream: false,
        requestSerialize: () => Buffer.alloc(0),
        requestDeserialize: () => ({}),
        responseSerialize: (r) => r,
        responseDeserialize: (b) => b,
      },
    },
    {
      Health: (_call, cb) => {
        if (mode === "hang") return; // accepted, never answered
        cb(null, reply(mode === "loading" ? "LOADING" : "OK"));
      },
    },
  );
  server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      process.stderr.write(`cannot listen on ${addr}: ${err.message}\n`);
      process.exit(3);
    }
  });
}
