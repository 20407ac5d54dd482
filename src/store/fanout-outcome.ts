import { isTerminal, type OpRecord, type OpState } from "../protocol/index.js";
import type { DashStore } from "./dash-store.js";
import type { ToastLevel } from "./types.js";

/** How a fan-out ended, once every op of it has: "install whisper: 3 succeeded, 1 failed". */
export function outcomeText(
  what: string,
  ops: readonly Pick<OpRecord, "state">[],
): { level: ToastLevel; text: string; counts: string } {
  const n = (s: OpState) => ops.filter((o) => o.state === s).length;
  const ok = n("succeeded");
  const failed = n("failed");
  const cancelled = n("cancelled");
  const gone = ops.length - ok - failed - cancelled;
  const parts = [
    `${ok} succeeded`,
    `${failed} failed`,
    ...(cancelled > 0 ? [`${cancelled} cancelled`] : []),
    ...(gone > 0 ? [`${gone} removed before it ended here`] : []),
  ];
  const level: ToastLevel = ok === ops.length ? "ok" : ok === 0 ? "err" : "warn";
  return { level, text: `${what}: ${parts.join(", ")}`, counts: parts.join(", ") };
}

/**
 * Watch the ops an admission created until every one of them has ended, then tell how it went:
 * a toast, and a line in History. Returns a function that stops watching.
 */
export function watchOutcome(
  store: DashStore,
  verb: string,
  backend: string,
  opIds: readonly string[],
  /**
   * A reply too big to list every op: the ids of the ones not listed start with `prefix`, and
   * the fan-out has `total` ops in all (listed or not).
   */
  rest?: { prefix: string; total: number },
): () => void {
  if (opIds.length === 0 && !rest?.total) return () => {};
  const ids = new Set(opIds);
  let done = false;
  // The last record seen of each op: one deleted from the bucket (removed by hand, expired) has
  // ended as far as this watch can tell, so the fan-out is still told, and the watch ends.
  const last = new Map<string, OpRecord>();
  const check = (ops: ReadonlyMap<string, OpRecord>) => {
    if (done) return;
    // O(ops) per change, and only for a fan-out too big to list: its ops are most of them anyway.
    if (rest) for (const id of ops.keys()) if (id.startsWith(rest.prefix)) ids.add(id);
    let over = !rest || ids.size >= rest.total;
    const ended: Array<Pick<OpRecord, "state">> = [];
    for (const id of ids) {
      const o = ops.get(id);
      if (o) last.set(id, o);
      if (o && isTerminal(o)) ended.push(o);
      else if (!o && last.has(id)) ended.push({ state: "queued" });
      else over = false;
    }
    if (!over) return;
    done = true;
    stop();
    const o = outcomeText(`${verb} ${backend}`, ended);
    const a = store.getState().actions;
    a.toast(o.level, o.text);
    a.addOutcome({ level: o.level, text: `${o.counts} (${verb})`, backend });
  };
  const stop = store.subscribe((s, prev) => {
    if (s.ops !== prev.ops) check(s.ops);
  });
  check(store.getState().ops);
  return stop;
}
