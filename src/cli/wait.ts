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
  const detail =
    op.state === "failed" ? `: ${op.error ?? "failed"}` : op.result?.noop ? " (already up to date)" : "";
  return `${op.nodeId} ${op.id} ${op.kind} ${what} ${op.state}${detail}`;
}

/**
 * Block until every op is terminal, printing each state change (and progress when asked).
 * Resolves with the final records.
 */
export async function waitForOps(
  client: ClusterClient,
  ops: Array<Pick<Admitted, "nodeId" | "opId">>,
  o: { progress?: boolean; out?: (line: string) => void } = {},
): Promise<OpRecord[]> {
  const out = o.out ?? ((l: string) => process.stderr.write(l + "\n"));
  const keys = new Set(ops.map((a) => opKey(a.nodeId, a.opId)));
  const final = new Map<string, OpRecord>();
  const lastState = new Map<string, string>();
  return new Promise<OpRecord[]>((resolve) => {
    const ids = new Set(ops.map((a) => a.opId));
    const stopProgress = o.progress
      ? client.onProgress((e) => {
          if (ids.has(e.opId)) out(progressLine(e));
        })
      : () => {};
    const check = () => {
      if (final.size === keys.size) {
        w.stop();
        stopProgress();
        resolve([...final.values()]);
      }
    };
    const w = client.watch("ops", (e) => {
      if (e.type === "ready") return check();
      if (e.type !== "put" || !keys.has(e.key)) return;
      const op = e.value;
      const sig = `${op.state}/${op.phase ?? ""}`;
      if (lastState.get(e.key) !== sig) {
        lastState.set(e.key, sig);
        out(opLine(op));
      }
      if (isTerminal(op.state)) final.set(e.key, op);
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
