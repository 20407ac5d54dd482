import { seconds } from "../lib/human.js";
import type { Logger } from "../lib/log.js";
import type { OpHookResult, OpKind } from "../protocol/index.js";
import { PROBE_KILL_GRACE_MS, ProcessGroup, track } from "./probe.js";

export const HOOK_FAILURE_POLICIES = ["warn", "rollback"] as const;
export type HookFailurePolicy = (typeof HOOK_FAILURE_POLICIES)[number];
export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;

export interface HookConfig {
  /** Shell command run after a backend went live on this node (install, upgrade, reinstall, rollback). */
  onActivate?: string;
  /** Shell command run after a backend was removed from this node. */
  onDelete?: string;
  timeoutMs: number;
  failure: HookFailurePolicy;
  /** Between SIGTERM and SIGKILL of the hook's process group on timeout. */
  killGraceMs?: number;
  /** Where a running hook records its process group (reaped by an agent restarted after kill -9). */
  pidDir?: string;
}

export type HookName = "on-activate" | "on-delete";

/** What the hook is told, as BACKPLANE_* environment variables. */
export interface HookEvent {
  hook: HookName;
  backend: string;
  version?: string;
  digest?: string;
  /** The backend's directory, `<root>/<name>` (gone after a delete). */
  path: string;
  previousVersion?: string;
  opId: string;
  opKind: OpKind;
  /** The meta backend the op went through, when it did. */
  meta?: string;
}

/**
 * The hook's environment: the agent's own, less its BACKPLANE_* settings (they may hold NATS
 * credentials, and would be confused with the values below), plus the op's facts.
 */
export function hookEnv(e: HookEvent, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(base).filter(([k]) => !k.startsWith("BACKPLANE_")));
  return {
    ...inherited,
    BACKPLANE_HOOK: e.hook,
    BACKPLANE_BACKEND: e.backend,
    BACKPLANE_VERSION: e.version ?? "",
    BACKPLANE_DIGEST: e.digest ?? "",
    BACKPLANE_PATH: e.path,
    BACKPLANE_PREVIOUS_VERSION: e.previousVersion ?? "",
    BACKPLANE_OP_ID: e.opId,
    BACKPLANE_OP_KIND: e.opKind,
    BACKPLANE_META: e.meta ?? "",
  };
}

/** One line saying how a hook that did not pass ended, for the op's error. */
export function describeHookFailure(r: OpHookResult, timeoutMs: number): string {
  const how = r.timedOut
    ? `did not finish within ${seconds(timeoutMs)} and was killed`
    : r.signal
      ? `was killed by ${r.signal}`
      : r.exitCode === null
        ? "could not be started"
        : `exited with code ${r.exitCode}`;
  const tail = r.output.length ? `\nlast ${r.output.length} lines of output:\n${r.output.join("\n")}` : "";
  return `the ${r.hook} hook ${how}${tail}`;
}

/**
 * Run a hook as `/bin/sh -c CMD` in its own process group, with the op's facts in its environment.
 * It is not stopped by a cancel (the change it follows is done); on timeout its whole process group
 * is stopped (SIGTERM, then SIGKILL) and nothing of it is left running. Never throws.
 */
export async function runHook(
  command: string,
  event: HookEvent,
  cfg: HookConfig,
  cwd: string,
  log: Logger,
): Promise<OpHookResult> {
  const started = Date.now();
  const group = new ProcessGroup("/bin/sh", ["-c", command], cwd, {
    env: hookEnv(event),
    combined: true,
  });
  const forget = await track(cfg.pidDir, group.child.pid, "hook");
  group.release();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), cfg.timeoutMs)));
  try {
    const r = await Promise.race([group.exited, timedOut]);
    clearTimeout(timer);
    // Whatever the shell left behind in its group (a `cmd &`) is stopped too.
    await group.stop(cfg.killGraceMs ?? PROBE_KILL_GRACE_MS);
    if (r !== "timeout") await group.exited;
    const output = group.stderrTail();
    const durationMs = Date.now() - started;
    let result: OpHookResult;
    if (r === "timeout") {
      result = { hook: event.hook, ok: false, exitCode: null, timedOut: true, durationMs, output };
    } else if ("error" in r) {
      result = { hook: event.hook, ok: false, exitCode: null, durationMs, output: [r.error.message] };
    } else {
      result = {
        hook: event.hook,
        ok: r.code === 0,
        exitCode: r.code,
        ...(r.signal ? { signal: r.signal } : {}),
        durationMs,
        output,
      };
    }
    const fields = { hook: event.hook, backend: event.backend, exitCode: result.exitCode, ms: durationMs };
    if (result.ok) log.info("hook ran", fields);
    else log.warn("hook failed", { ...fields, timedOut: result.timedOut, signal: result.signal });
    return result;
  } finally {
    clearTimeout(timer);
    await forget();
  }
}
