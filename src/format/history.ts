import type { AuditEvent } from "../protocol/index.js";
import { opStateText } from "./status.js";
import type { Column, Row } from "./table.js";
import { clock } from "./units.js";

export const HISTORY_COLUMNS: Column[] = [
  { id: "time", title: "TIME", width: 8 },
  { id: "event", title: "EVENT", width: 12 },
  { id: "node", title: "NODE", width: 8, flex: 1 },
  { id: "backend", title: "BACKEND", width: 10, flex: 1 },
  { id: "detail", title: "DETAIL", width: 16, flex: 3 },
  { id: "actor", title: "BY", width: 12, wide: true },
];

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
  return events.map((e, i) => ({
    key: `${e.at}-${i}`,
    cells: {
      time: { text: clock(e.at, now), sort: e.at },
      event: { text: e.kind, tone: e.op?.state === "failed" ? "err" : undefined },
      node: { text: e.nodeId ?? "" },
      backend: { text: e.backend ?? "" },
      detail: { text: detail(e) },
      actor: { text: e.actor },
    },
  }));
}
