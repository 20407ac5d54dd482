import { execFile } from "node:child_process";
import { access, readdir, readFile } from "node:fs/promises";
import { totalmem } from "node:os";
import type { CapabilityProbe } from "./capability.js";

/** The real machine: files, /proc, /sys and commands on PATH (each command gets 5 s). */
export function systemProbe(env: NodeJS.ProcessEnv = process.env): CapabilityProbe {
  return {
    platform: process.platform,
    arch: process.arch,
    env: (name) => env[name],
    readFile: (path) => readFile(path, "utf8").catch(() => null),
    exists: (path) =>
      access(path).then(
        () => true,
        () => false,
      ),
    listDir: (path) => readdir(path).catch(() => []),
    run: (cmd, args) =>
      new Promise((resolve) => {
        execFile(cmd, args, { timeout: 5_000, encoding: "utf8" }, (err, stdout) =>
          resolve(err ? null : stdout),
        );
      }),
    totalMemBytes: () => totalmem(),
  };
}
