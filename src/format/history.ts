import type { AuditEvent } from "../protocol/index.js";
import { opStateLook } from "../theme/symbols.js";
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
    const look = opStateLook[e.op.state];
    const err = e.op.error ? `: ${e.op.error}` : "";
    return `${e.op.kind} ${look.glyph} ${look.word}${err}`;
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
