import type { AuditEvent, OpRecord } from "../protocol/index.js";
import { phaseWord } from "../theme/symbols.js";
import type { Tone } from "../theme/tokens.js";
import { opStateText } from "./status.js";
import { age, clock, duration } from "./units.js";

/** One labelled field of the op detail view; the view wraps `value` to the width it has. */
export interface DetailField {
  label: string;
  value: string;
  tone?: Tone;
}

/** What was installed on the node before the op: the record's `from`, else the inventory while it runs. */
export interface InstalledBefore {
  version?: string;
  digest?: string;
}

const arrow = (from: string | undefined, to: string | undefined): string =>
  from && to && from !== to ? `${from} → ${to}` : (to ?? from ?? "-");

/** `sha256:0123456789ab`: enough of a digest to tell two apart, short enough for one line. */
const digest = (d: string | undefined): string | undefined => {
  if (!d) return undefined;
  const i = d.indexOf(":");
  return i >= 0 ? `${d.slice(0, i + 1)}${d.slice(i + 1, i + 13)}` : d.slice(0, 12);
};

const at = (t: number | undefined, now: number): string =>
  t === undefined ? "-" : `${clock(t, now)} (${age(t, now)} ago)`;

/** Each phase of the latest attempt with when it began and how long it took (the last runs to the end). */
export function phaseLines(op: OpRecord, now: number): string[] {
  const phases = op.phases ?? [];
  const end = op.finishedAt ?? now;
  return phases.map((p, i) => {
    const until = phases[i + 1]?.at ?? end;
    const open = i === phases.length - 1 && op.finishedAt === undefined;
    return `${phaseWord[p.phase].padEnd(8)} ${clock(p.at, now)}  ${duration((until - p.at) / 1000)}${open ? " so far" : ""}`;
  });
}

/** Everything an op record says, as labelled fields (id first, error last). */
export function opDetailFields(
  op: OpRecord,
  before: InstalledBefore | undefined,
  now: number,
): DetailField[] {
  const st = opStateText(op.state, op.phase);
  const concrete = op.target?.name;
  const toVersion = op.result?.version ?? op.target?.version;
  const toDigest = op.result?.digest ?? (op.target?.sha256 ? `sha256:${op.target.sha256}` : undefined);
  const took =
    op.finishedAt !== undefined
      ? duration((op.finishedAt - (op.startedAt ?? op.createdAt)) / 1000)
      : op.startedAt !== undefined
        ? `${duration((now - op.startedAt) / 1000)} so far`
        : "-";
  const fields: DetailField[] = [
    { label: "id", value: op.id },
    { label: "state", value: `${st.text}${op.dismissed ? " (dismissed)" : ""}`, tone: st.tone },
    { label: "kind", value: op.kind },
    { label: "node", value: op.nodeId },
    {
      label: "backend",
      value: concrete && concrete !== op.backend ? `${op.backend} (concrete ${concrete})` : op.backend,
    },
    { label: "version", value: arrow(before?.version, toVersion) },
    { label: "digest", value: arrow(digest(before?.digest), digest(toDigest)) },
    { label: "requested by", value: op.requestedBy },
    { label: "created", value: at(op.createdAt, now) },
    { label: "started", value: at(op.startedAt, now) },
    { label: "finished", value: at(op.finishedAt, now) },
    { label: "duration", value: took },
    { label: "attempts", value: String(op.attempts) },
  ];
  const phases = phaseLines(op, now);
  if (phases.length > 0) fields.push({ label: "phases", value: phases.join("\n") });
  else if (op.phase) fields.push({ label: "phase", value: phaseWord[op.phase] });
  if (op.error)
    fields.push({ label: "error", value: op.error, tone: op.state === "failed" ? "err" : undefined });
  return fields;
}

/** An audit event as one line of the op's trail: time, kind, who, and what it says. */
export function auditLine(e: AuditEvent, now: number): string {
  const what = e.message ?? (e.op ? `${e.op.state}${e.op.error ? `: ${e.op.error}` : ""}` : "");
  return `${clock(e.at, now)} ${e.kind} by ${e.actor}${what ? ` — ${what}` : ""}`;
}
