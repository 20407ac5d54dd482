import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

export const SERVER = fileURLToPath(new URL("./health-backend.mjs", import.meta.url));
export type Mode = "ok" | "loading" | "hang" | "never" | "exit";

/** run.sh as LocalAI's: `run.sh --addr HOST:PORT` starts the gRPC backend. */
export const runSh = (mode: Mode, pidfile: string, extra = "") =>
  `#!/bin/sh\nexec "${process.execPath}" "${SERVER}" --mode ${mode} --pidfile "${pidfile}" ${extra} "$@"\n`;

/** A process that is gone or a zombie no longer runs. */
export async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

export async function pidsOf(pidfile: string): Promise<number[]> {
  const text = await readFile(pidfile, "utf8");
  return text.trim().split(/\s+/).map(Number);
}

export async function expectNoneRunning(pidfile: string): Promise<void> {
  const pids = await pidsOf(pidfile);
  expect(pids).toHaveLength(2); // the backend and the grandchild it started
  for (const pid of pids) expect(await running(pid), `pid ${pid} still runs`).toBe(false);
}
