import type { ClusterClient } from "../client/index.js";
import { isTerminal, opKey, type Admitted, type OpRecord, type ProgressEvent } from "../protocol/index.js";
import { bytes, duration, rate } from "../format/units.js";

/** A one-line, log-friendly rendering of a progress event. */
export function progressLine(e: ProgressEvent): string {
  const pct = e.bytesTotal ? ` ${Math.floor((e.bytesDone / e.bytesTotal) * 100)}%` : "";
  const eta = e.etaSec !== null && !e.final ? ` eta ${duration(Math.ceil(e.etaSec))}` : "";
  const speed = e.bytesPerSec > 0 ? ` ${rate(e.bytesPerSec)}` : "";
  return `${e.nodeId} ${e.opId} ${e.backend} ${e.phase}${pct} ${bytes(e.bytesDone)}/${bytes(e.bytesTotal)}${speed}${eta}`;
}

export function opLine(op: OpRecord): string {
  const what = op.target && op.target.name !== op.backend ? `${op.backend} (${op.target.name})` : op.backend;
  const phase = op.state === "running" && op.phase ? ` (${op.phase})` : "";
  const detail =
    op.state === "failed" ? `: ${op.error ?? "failed"}` : op.result?.noop ? " (already up to date)" : "";
  return `${op.nodeId} ${op.id} ${op.kind} ${what} ${op.state}${phase}${detail}`;
}

/**
 * What a watcher prints for a stream of op records and progress events: one line per state or
 * phase change, and nothing about an op once it has ended (a late progress event or a re-delivered
 * record would read as if it started again).
 */
export class OpLog {
  private readonly last = new Map<string, string>();
  private readonly ended = new Set<string>();

  /** The line for this record, or undefined when it says nothing new. */
  op(op: OpRecord): string | undefined {
    if (this.ended.has(op.id)) return undefined;
    if (isTerminal(op.state)) this.ended.add(op.id);
    const line = opLine(op);
    if (this.last.get(op.id) === line) return undefined;
    this.last.set(op.id, line);
    return line;
  }

  progress(e: ProgressEvent): string | undefined {
    return this.ended.has(e.opId) ? undefined : progressLine(e);
  }
}

/** "4 succeeded, 0 failed" (and how many were cancelled, when any were). */
export function summaryLine(ops: readonly OpRecord[]): string {
  const count = (state: OpRecord["state"]) => ops.filter((op) => op.state === state).length;
  const cancelled = count("cancelled");
  return `${count("succeeded")} succeeded, ${count("failed")} failed${cancelled ? `, ${cancelled} cancelled` : ""}`;
}

/** Thrown when the operator pressed Ctrl-C while waiting; the ops themselves keep running. */
export class WaitInterrupted extends Error {
  readonly exitCode = 130;
  constructor(readonly running: ReadonlyArray<Pick<Admitted, "nodeId" | "opId">>) {
    super(
      running.length === 0
        ? "interrupted"
        : `interrupted: ${running.length} op(s) keep running on their nodes; to stop them:\n` +
            running.map((r) => `  backplane ops cancel ${r.opId}   # on ${r.nodeId}`).join("\n"),
    );
  }
}

/**
 * Block until every op is terminal, printing each state or phase change (and progress when asked),
 * then a summary line. Resolves with the final records; Ctrl-C rejects with WaitInterrupted.
 */
export async function waitForOps(
  client: ClusterClient,
  ops: Array<Pick<Admitted, "nodeId" | "opId">>,
  o: {
    progress?: boolean;
    out?: (line: string) => void;
    /**
     * An admission too big to list: its other ops' ids start with `prefix`, and it has `total`
     * ops in all. They are waited for as the watch meets them.
     */
    rest?: { prefix: string; total: number };
  } = {},
): Promise<OpRecord[]> {
  const out = o.out ?? ((l: string) => process.stderr.write(l + "\n"));
  const rest = o.rest;
  const keys = new Set(ops.map((a) => opKey(a.nodeId, a.opId)));
  const final = new Map<string, OpRecord>();
  const log = new OpLog();
  const say = (line: string | undefined) => line !== undefined && out(line);
  return new Promise<OpRecord[]>((resolve, reject) => {
    const ids = new Set(ops.map((a) => a.opId));
    const ours = (opId: string) => ids.has(opId) || (rest !== undefined && opId.startsWith(rest.prefix));
    const stopProgress = o.progress
      ? client.onProgress((e) => {
          if (ours(e.opId)) say(log.progress(e));
        })
      : () => {};
    const stop = () => {
      w.stop();
      stopProgress();
      process.off("SIGINT", onInterrupt);
    };
    const onInterrupt = () => {
      stop();
      reject(new WaitInterrupted(ops.filter((a) => !final.has(opKey(a.nodeId, a.opId)))));
    };
    process.once("SIGINT", onInterrupt);
    const check = () => {
      if (final.size !== keys.size || (rest && keys.size < rest.total)) return;
      stop();
      const done = [...final.values()];
      if (done.length > 0) out(summaryLine(done));
      resolve(done);
    };
    const w = client.watch("ops", (e) => {
      if (e.type === "ready") return check();
      if (e.type !== "put") return;
      if (!keys.has(e.key)) {
        if (!rest || !e.value.id.startsWith(rest.prefix)) return;
        keys.add(e.key);
        ids.add(e.value.id);
      }
      say(log.op(e.value));
      if (isTerminal(e.value.state)) final.set(e.key, e.value);
      check();
    });
  });
}

/** Exit code for a batch of finished ops: non-zero if any failed, with the errors on stderr. */
export function exitCodeFor(ops: readonly OpRecord[]): number {
  const failed = ops.filter((op) => op.state !== "succeeded");
  for (const op of failed)
    process.stderr.write(`error: ${op.nodeId} ${op.backend}: ${op.error ?? op.state}\n`);
  return failed.length > 0 ? 1 : 0;
}
