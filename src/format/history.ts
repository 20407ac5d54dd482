import type { AuditEvent, ROLLOUT_EVENT_KINDS } from "../protocol/index.js";
import type { Tone } from "../theme/tokens.js";
import { opStateText } from "./status.js";
import type { Cell, Column, Row } from "./table.js";
import { clock } from "./units.js";

export const HISTORY_COLUMNS: Column[] = [
  { id: "time", title: "TIME", width: 8 },
  { id: "event", title: "EVENT", width: 12 },
  { id: "node", title: "NODE", width: 8, flex: 1 },
  { id: "backend", title: "BACKEND", width: 10, flex: 1 },
  { id: "detail", title: "DETAIL", width: 16, flex: 3 },
  { id: "actor", title: "BY", width: 12, wide: true },
];

type RolloutKind = (typeof ROLLOUT_EVENT_KINDS)[number];

/** How each rollout event reads in the EVENT column (at most 12 wide) and its tone. */
const ROLLOUT_EVENTS: Record<RolloutKind, { text: string; tone?: Tone }> = {
  "rollout.created": { text: "rollout new" },
  "rollout.started": { text: "rollout run" },
  "rollout.wave": { text: "wave started" },
  "rollout.gate.passed": { text: "gate passed", tone: "ok" },
  "rollout.gate.failed": { text: "gate failed", tone: "err" },
  "rollout.paused": { text: "paused", tone: "warn" },
  "rollout.resumed": { text: "resumed" },
  "rollout.promoted": { text: "promoted" },
  "rollout.aborted": { text: "aborted", tone: "warn" },
  "rollout.node.reverted": { text: "reverted", tone: "warn" },
  "rollout.ended": { text: "rollout end" },
};

const isRolloutKind = (k: string): k is RolloutKind => Object.hasOwn(ROLLOUT_EVENTS, k);

/** A rollout event's message starts with its rollout id: `ro-…: wave 2 of 4 started`. */
const ROLLOUT_MESSAGE = /^(ro-[a-z0-9]+-[a-z0-9]+): ([\s\S]*)$/;

/** A rollout event as History shows it: what happened first, the rollout id last (it is long). */
export function rolloutEventCells(e: AuditEvent & { kind: RolloutKind }): { event: Cell; detail: Cell } {
  const m = ROLLOUT_MESSAGE.exec(e.message ?? "");
  const what = m ? m[2]! : (e.message ?? "");
  let { text, tone } = ROLLOUT_EVENTS[e.kind];
  if (e.kind === "rollout.ended") {
    if (/dismissed the rollout/.test(what)) text = "dismissed";
    else if (/ succeeded: /.test(what)) tone = "ok";
    else if (/ aborted: /.test(what)) tone = "warn";
    else if (/ failed: /.test(what)) tone = "err";
  }
  return { event: { text, tone }, detail: { text: m ? `${what} · ${m[1]}` : what } };
}

function detail(e: AuditEvent): string {
  if (e.message) return e.message;
  if (e.op) {
    const err = e.op.error ? `: ${e.op.error}` : "";
    // The state as recorded, not the phase: an audit line says what happened, not how far it got.
    return `${e.op.kind} ${opStateText(e.op.state).text}${err}`;
  }
  return "";
}

/** Newest first, as the audit trail reads best. */
export function historyRows(events: readonly AuditEvent[], now: number): Row[] {
  // Keys that stay with their event when newer ones arrive on top (History follows or holds by them).
  const used = new Map<string, number>();
  const keyOf = (e: AuditEvent) => {
    const base = `${e.at}|${e.kind}|${e.opId ?? ""}|${e.nodeId ?? ""}`;
    const n = used.get(base) ?? 0;
    used.set(base, n + 1);
    return n === 0 ? base : `${base}#${n}`;
  };
  return events.map((e) => {
    const ro = isRolloutKind(e.kind) ? rolloutEventCells({ ...e, kind: e.kind }) : null;
    return {
      key: keyOf(e),
      cells: {
        time: { text: clock(e.at, now), sort: e.at },
        event: ro?.event ?? { text: e.kind, tone: e.op?.state === "failed" ? "err" : undefined },
        node: { text: e.nodeId ?? "" },
        backend: { text: e.backend ?? "" },
        detail: ro?.detail ?? { text: detail(e) },
        actor: { text: e.actor },
      },
    };
  });
}

/** How a fan-out this dashboard started ended, as a History row (not in the controller's trail). */
export interface Outcome {
  id: number;
  level: "info" | "ok" | "warn" | "err";
  text: string;
  backend: string;
  at: number;
  what?: "fan-out" | "rollout";
}

export function outcomeRows(outcomes: readonly Outcome[], actor: string, now: number): Row[] {
  return outcomes.map((o) => ({
    key: `outcome-${o.id}`,
    cells: {
      time: { text: clock(o.at, now), sort: o.at },
      event: {
        text: o.what ?? "fan-out",
        tone: o.level === "ok" ? "ok" : o.level === "info" ? undefined : o.level,
      },
      node: { text: "" },
      backend: { text: o.backend },
      detail: { text: o.text },
      actor: { text: actor },
    },
  }));
}

/** Two newest-first row lists as one, newest first. */
export function mergeByTime(a: readonly Row[], b: readonly Row[]): Row[] {
  const at = (r: Row) => Number(r.cells.time?.sort ?? 0);
  return [...a, ...b].sort((x, y) => at(y) - at(x));
}
