import { freePort } from "../lib/net.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { seconds } from "../lib/human.js";
import type { Logger } from "../lib/log.js";
import { sleep } from "../lib/sleep.js";
import { abortReason, ProbeFailedError } from "./errors.js";
import { callHealth, healthClient, waitForReady } from "./health-grpc.js";

export const PROBE_MODES = ["grpc", "exec", "none"] as const;
export type ProbeMode = (typeof PROBE_MODES)[number];
export const DEFAULT_PROBE_TIMEOUT_MS = 60_000;
/** Between SIGTERM and SIGKILL of the probed process group. */
export const PROBE_KILL_GRACE_MS = 5_000;
const STDERR_LINES = 20;
const STDERR_LINE_CHARS = 160;
/** LocalAI gives one Health call 10 s. */
const CALL_TIMEOUT_MS = 10_000;
const RETRY_MS = 200;

export interface ProbeConfig {
  mode: ProbeMode;
  timeoutMs: number;
  /** `exec`: a shell command run in the staged directory; exit 0 passes. */
  command?: string;
  killGraceMs?: number;
  /**
   * Where a running probe records its process group, so that an agent restarted after a kill -9
   * stops what the interrupted probe left running (reapOrphanedProbes).
   */
  pidDir?: string;
}

/** Recorded on the op's result. */
export interface ProbeOutcome {
  mode: ProbeMode;
  ran: boolean;
  durationMs: number;
}

/** Pids of the live (not zombie) members of a process group, from /proc; null where there is none. */
async function groupMembers(pgid: number): Promise<number[] | null> {
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return null;
  }
  const out: number[] = [];
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const stat = await readFile(join("/proc", e, "stat"), "utf8").catch(() => "");
        // "pid (comm) S ppid pgrp ...": comm may hold spaces and parentheses.
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (rest[0] !== "Z" && rest[0] !== "X" && Number(rest[2]) === pgid) out.push(Number(e));
      }),
  );
  return out;
}

/** The start time of a process (clock ticks since boot), to tell it from a later one with its pid. */
async function startTime(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  return stat === null ? null : (stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null);
}

/** Record a probe's (or hook's) process group in `pidDir`; returns the function that forgets it. */
export async function track(
  pidDir: string | undefined,
  pgid: number | undefined,
  label = "probe",
): Promise<() => Promise<void>> {
  if (!pidDir || !pgid) return async () => {};
  const file = join(pidDir, `${label}-${pgid}`);
  try {
    await mkdir(pidDir, { recursive: true });
    await writeFile(file, `${pgid} ${(await startTime(pgid)) ?? ""}\n`);
  } catch {
    return async () => {};
  }
  return () => rm(file, { force: true });
}

/**
 * Stop the process groups of probes that an agent killed with -9 left running (recorded in
 * `pidDir`). A recorded leader whose start time differs is another process: left alone.
 */
export async function reapOrphanedProbes(pidDir: string, log: Logger): Promise<number> {
  let reaped = 0;
  for (const f of await readdir(pidDir).catch(() => [] as string[])) {
    const [pgidText, recorded] = (await readFile(join(pidDir, f), "utf8").catch(() => "")).trim().split(" ");
    const pgid = Number(pgidText);
    if (Number.isInteger(pgid) && pgid > 1) {
      const now = await startTime(pgid);
      if (now === null || !recorded || now === recorded) {
        try {
          process.kill(-pgid, "SIGKILL");
          reaped++;
          log.info("stopped the processes of an interrupted health probe or hook", { pgid });
        } catch {
          // nothing left in that group
        }
      }
    }
    await rm(join(pidDir, f), { force: true });
  }
  return reaped;
}

async function groupAlive(pgid: number): Promise<boolean> {
  const members = await groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null } | { error: Error };

/** Holds the command until a line arrives on stdin; exits without running it at EOF. */
const GATE = 'IFS= read -r _ && exec "$@"';

/**
 * A command started in its own process group, with the tail of its stderr (with `combined`, of its
 * stdout and stderr together) kept. It waits at a gate until `release()`: the caller records the
 * group first (`track`), so that an agent killed -9 at any moment leaves nothing running that the
 * restarted agent cannot find and stop.
 */
export class ProcessGroup {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  exit?: Exit;
  private readonly lines: string[] = [];
  private partial = "";

  constructor(
    file: string,
    args: string[],
    cwd: string,
    o: { env?: NodeJS.ProcessEnv; combined?: boolean } = {},
  ) {
    this.child = spawn("/bin/sh", ["-c", GATE, "sh", file, ...args], {
      cwd,
      env: o.env,
      detached: true,
      stdio: ["pipe", o.combined ? "pipe" : "ignore", "pipe"],
    });
    // A gate that died before release (its agent killed) has no reader left.
    this.child.stdin?.on("error", () => {});
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
      this.child.once("error", (error) => resolve({ error }));
    }).then((x) => (this.exit = x));
    const take = (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop() ?? "";
      for (const l of parts) this.keep(l);
      if (this.partial.length > 4096) {
        this.keep(this.partial);
        this.partial = "";
      }
    };
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", take);
    }
  }

  /** Let the command run (see the class comment); its stdin then reads end of file. */
  release(): void {
    this.child.stdin?.end("\n");
  }

  private keep(line: string): void {
    const l = line.replace(/\r$/, "");
    this.lines.push(l.length > STDERR_LINE_CHARS ? `${l.slice(0, STDERR_LINE_CHARS)}…` : l);
    if (this.lines.length > STDERR_LINES) this.lines.shift();
  }

  stderrTail(): string[] {
    const all = this.partial ? [...this.lines, this.partial.slice(0, STDERR_LINE_CHARS)] : this.lines;
    return all.slice(-STDERR_LINES);
  }

  describeExit(what: string): string {
    const x = this.exit;
    if (!x) return `${what} is still running`;
    if ("error" in x) return `cannot start ${what}: ${x.error.message}`;
    return x.signal ? `${what} was killed by ${x.signal}` : `${what} exited with code ${x.code}`;
  }

  /** SIGTERM to the whole group, SIGKILL after the grace period; returns when no member is left. */
  async stop(graceMs: number): Promise<void> {
    const pgid = this.child.pid;
    if (!pgid) return;
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-pgid, s);
      } catch {
        // already gone
      }
    };
    const gone = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        if (!(await groupAlive(pgid))) return true;
        await sleep(50);
      }
      return !(await groupAlive(pgid));
    };
    if (!(await groupAlive(pgid))) return;
    signal("SIGTERM");
    if (await gone(graceMs)) return;
    signal("SIGKILL");
    await gone(2_000);
  }
}

function failure(reason: string, group: ProcessGroup): ProbeFailedError {
  const tail = group.stderrTail();
  const stderr = tail.length ? `\nlast ${tail.length} lines of stderr:\n${tail.join("\n")}` : "";
  return new ProbeFailedError(`health probe failed: ${reason}${stderr}`);
}

/**
 * Start the staged backend as LocalAI does (`run.sh --addr 127.0.0.1:PORT`, working directory
 * its own) and call `backend.Backend/Health` until it answers "OK" or the timeout ends.
 */
async function probeGrpc(dir: string, cfg: ProbeConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const started = Date.now();
  const deadline = started + cfg.timeoutMs;
  const group = new ProcessGroup(join(dir, "run.sh"), ["--addr", addr], dir);
  const forget = await track(cfg.pidDir, group.child.pid);
  group.release();
  const client = healthClient(addr);
  let onAbort!: () => void;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
  });
  const interrupted = Promise.race([group.exited.then(() => "exited" as const), aborted]);
  try {
    let listening = false;
    let answer: string | undefined;
    while (Date.now() < deadline) {
      if (signal.aborted) throw abortReason(signal);
      if (group.exit) throw failure(group.describeExit("run.sh"), group);
      const ready = await Promise.race([
        waitForReady(client, Math.min(deadline, Date.now() + 1_000)),
        interrupted,
      ]);
      if (ready !== true) continue;
      listening = true;
      const reply = await Promise.race([
        callHealth(client, Math.min(deadline, Date.now() + CALL_TIMEOUT_MS)).then(
          (message) => ({ message }),
          (error: unknown) => ({ error }),
        ),
        interrupted,
      ]);
      if (typeof reply === "string" || "error" in reply) continue;
      if (reply.message === "OK") {
        log.info("health probe passed", { addr, ms: Date.now() - started });
        return;
      }
      answer = reply.message;
      await Promise.race([sleep(RETRY_MS), interrupted]);
    }
    if (signal.aborted) throw abortReason(signal);
    if (group.exit) throw failure(group.describeExit("run.sh"), group);
    const within = `within ${seconds(cfg.timeoutMs)}`;
    if (answer !== undefined) {
      throw failure(`answered ${JSON.stringify(answer.slice(0, 200))} instead of "OK" ${within}`, group);
    }
    if (listening) {
      throw failure(`no answer to Health on ${addr} ${within} (it accepted the connection)`, group);
    }
    throw failure(`no answer on ${addr} ${within}`, group);
  } finally {
    signal.removeEventListener("abort", onAbort);
    client.close();
    await group.stop(cfg.killGraceMs ?? PROBE_KILL_GRACE_MS);
    await forget();
  }
}

/** Run the probe command in the staged directory; exit 0 passes. */
async function probeExec(dir: string, cfg: ProbeConfig, signal: AbortSignal): Promise<void> {
  const command = cfg.command;
  if (!command) throw new ProbeFailedError("health probe failed: --probe exec needs --probe-command");
  const group = new ProcessGroup("/bin/sh", ["-c", command], dir);
  const forget = await track(cfg.pidDir, group.child.pid);
  group.release();
  let timer: NodeJS.Timeout | undefined;
  let onAbort!: () => void;
  const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), cfg.timeoutMs)));
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const r = await Promise.race([group.exited, timedOut, aborted]);
    if (r === "aborted" || signal.aborted) throw abortReason(signal);
    if (r === "timeout") {
      throw failure(`the probe command did not finish within ${seconds(cfg.timeoutMs)}`, group);
    }
    if ("code" in r && r.code === 0) return;
    throw failure(group.describeExit("the probe command"), group);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    await group.stop(cfg.killGraceMs ?? PROBE_KILL_GRACE_MS);
    await forget();
  }
}

/** Probe a staged backend before it goes live; throws ProbeFailedError (or the abort reason). */
export async function probeBackend(
  dir: string,
  cfg: ProbeConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<ProbeOutcome> {
  if (cfg.mode === "none") return { mode: "none", ran: false, durationMs: 0 };
  const started = Date.now();
  if (cfg.mode === "grpc") await probeGrpc(dir, cfg, signal, log);
  else await probeExec(dir, cfg, signal);
  return { mode: cfg.mode, ran: true, durationMs: Date.now() - started };
}
