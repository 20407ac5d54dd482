import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { spawnLogged, type Spawned } from "./proc.js";

export const BIN = fileURLToPath(new URL("../../bin/backplane.js", import.meta.url));
const DIST_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/**
 * Run the real `backplane` binary (dist/, built by `make build`; `make test` builds first) as a
 * child process, with output captured for assertions and failure messages.
 */
export function spawnBackplane(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  if (!existsSync(DIST_MAIN)) {
    throw new Error(
      "dist/ is missing: run `make build` (or `npx tsc -p tsconfig.build.json`) before this test",
    );
  }
  return spawnLogged(process.execPath, [BIN, ...args], {
    env: { ...process.env, BACKPLANE_LOG_LEVEL: "debug", ...env },
  });
}

/** Run the binary to completion; resolves with exit code, stdout and stderr. */
export async function runBackplane(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`backplane ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
