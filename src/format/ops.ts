import {
  isActive,
  needsAttention,
  type OpRecord,
  type OpState,
  type ProgressEvent,
} from "../protocol/index.js";
import { opStateLook } from "../theme/symbols.js";
import type { Tone } from "../theme/tokens.js";
import { progressBar } from "./progress.js";
import { opStateText } from "./status.js";
import type { Column, Row } from "./table.js";
import { bytes, clock, duration, rate } from "./units.js";

/** Ops created by one request arrive within moments of each other; that is how a fan-out is found. */
const FANOUT_WINDOW_MS = 5_000;

/** Widths inside the live progress column: bar, bytes, rate, ETA. */
export const PROGRESS_PARTS = { bar: 14, bytes: 9, rate: 7, eta: 5 } as const;
const PROGRESS_WIDTH =
  PROGRESS_PARTS.bar + PROGRESS_PARTS.bytes + PROGRESS_PARTS.rate + PROGRESS_PARTS.eta + 3;

/**
 * The live part of a row, `█████░░░░  45%  90M/200M  5.0M/s   34s`, as its parts (each at its
 * width in PROGRESS_PARTS, drawn one space apart): bar, bytes, rate, ETA.
 */
export function progressParts(t: ProgressText): [bar: string, bytes: string, rate: string, eta: string] {
  const { bytes: b, rate: r, eta: e } = PROGRESS_PARTS;
  return [t.bar, t.bytes.padStart(b).slice(-b), t.rate.padStart(r).slice(-r), t.eta.padStart(e).slice(-e)];
}

export const OP_COLUMNS: Column[] = [
  { id: "op", title: "OPERATION", width: 16, identity: true },
  { id: "state", title: "STATE", width: 11, keep: true },
  // One live column (one component per row) with its own sub-headings.
  {
    id: "progress",
    title: `${"PROGRESS".padEnd(PROGRESS_PARTS.bar)} ${"BYTES".padStart(PROGRESS_PARTS.bytes)} ${"RATE".padStart(PROGRESS_PARTS.rate)} ${"ETA".padStart(PROGRESS_PARTS.eta)}`,
    width: PROGRESS_WIDTH,
    unsortable: true,
    keep: true,
  },
  { id: "age", title: "AGE", width: 6, align: "right", wide: true },
];

/** A finished op stays on screen this long (dimmed, bar full) so its end can be seen, then goes to History. */
export const LINGER_MS = 10_000;

/** Which finished ops Operations keeps listed. */
export interface Keep {
  /** Every op in the ops bucket, finished or not (the "all" toggle). */
  all?: boolean;
  /** Since when the operator has had Operations open: ops that finished since stay, up to `keepMs`. */
  since?: number | null;
  keepMs?: number;
}

/**
 * Shown in Operations: every op still running, failed ones until dismissed, others for a moment,
 * or, while the operator has the view open, until `keepMs` after they ended; all with `all`.
 */
export function isListed(op: OpRecord, now: number, keep: Keep = {}): boolean {
  if (keep.all || isActive(op) || needsAttention(op)) return true;
  if (op.state === "failed") return false;
  const ended = op.finishedAt ?? op.updatedAt;
  if (now - ended < LINGER_MS) return true;
  return keep.since != null && ended >= keep.since && now - ended < (keep.keepMs ?? 0);
}

export interface OpGroup {
  key: string;
  ops: OpRecord[];
}

/** Cluster listed ops into fan-outs (same kind, backend and requester, created within 5 s); newest first. */
export function groupOps(ops: Iterable<OpRecord>, now: number, keep: Keep = {}): OpGroup[] {
  const listed = [...ops]
    .filter((o) => isListed(o, now, keep))
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const groups: OpGroup[] = [];
  const open = new Map<string, { g: OpGroup; first: number }>();
  for (const op of listed) {
    const sig = `${op.kind}\u0000${op.backend}\u0000${op.requestedBy}`;
    const cur = open.get(sig);
    if (cur && op.createdAt - cur.first <= FANOUT_WINDOW_MS) {
      cur.g.ops.push(op);
      continue;
    }
    const g = { key: `g:${op.id}`, ops: [op] };
    groups.push(g);
    open.set(sig, { g, first: op.createdAt });
  }
  return groups.reverse();
}

const STATE_ORDER: OpState[] = ["failed", "cancelling", "running", "queued", "succeeded", "cancelled"];

function groupStateText(ops: OpRecord[]): { text: string; tone: Tone } {
  const counts = new Map<OpState, number>();
  for (const o of ops) counts.set(o.state, (counts.get(o.state) ?? 0) + 1);
  const parts = STATE_ORDER.filter((s) => counts.has(s)).map(
    (s) => `${opStateLook[s].glyph}${counts.get(s)}`,
  );
  return { text: parts.join(" "), tone: counts.has("failed") ? "err" : "accent" };
}

function opRow(op: OpRecord, label: string, now: number): Row {
  const st = opStateText(op.state, op.phase);
  const row: Row = {
    key: op.id,
    dim: op.state === "succeeded" || op.state === "cancelled",
    cells: {
      op: { text: label, sort: `${op.kind} ${op.backend} ${op.nodeId}` },
      state: { ...st, sort: STATE_ORDER.indexOf(op.state) },
      progress: { text: "" },
      age: { text: "", sort: -op.createdAt },
    },
  };
  if (op.state === "failed")
    row.tail = { from: "progress", text: op.error ?? "failed (no reason given)", tone: "err" };
  // The bar stays full while the op lingers; after that, a kept op says when it ended instead.
  else if (op.finishedAt !== undefined && now - op.finishedAt >= LINGER_MS)
    row.tail = {
      from: "progress",
      text: `finished ${clock(op.finishedAt, now)}, took ${duration((op.finishedAt - (op.startedAt ?? op.createdAt)) / 1000)}`,
      tone: "muted",
    };
  return row;
}

/**
 * Operations rows: a fan-out becomes a group row with one child row per node. Progress and age
 * cells are left empty: the view renders them live.
 */
export function opRows(groups: readonly OpGroup[], now = Date.now()): Row[] {
  return groups.map((g) => {
    const first = g.ops[0]!;
    if (g.ops.length === 1) return opRow(first, `${first.kind} ${first.backend} @${first.nodeId}`, now);
    const st = groupStateText(g.ops);
    return {
      key: g.key,
      cells: {
        op: {
          text: `${first.kind} ${first.backend} ×${g.ops.length}`,
          sort: `${first.kind} ${first.backend}`,
        },
        state: { ...st, sort: Math.min(...g.ops.map((o) => STATE_ORDER.indexOf(o.state))) },
        progress: { text: "" },
        age: { text: "", sort: -first.createdAt },
      },
      children: g.ops.map((o) => opRow(o, o.nodeId, now)),
    };
  });
}

/** The op ids a row stands for (a group row stands for all its children). */
export function opIdsOfRow(row: Row | undefined, groups: readonly OpGroup[]): string[] {
  if (!row) return [];
  const g = groups.find((x) => x.key === row.key);
  return g ? g.ops.map((o) => o.id) : [row.key];
}

/** Live progress columns, formatted; shared by a single op and a fan-out's aggregate. */
export interface ProgressText {
  bar: string;
  bytes: string;
  rate: string;
  eta: string;
}

export function progressText(
  p: ProgressEvent | undefined,
  op: OpRecord | undefined,
  barWidth: number,
): ProgressText {
  if (!p) {
    const total = op?.bytesTotal;
    // A finished op is 100 % even when no total was recorded.
    const bar = op?.state === "succeeded" ? progressBar(1, 1, barWidth) : progressBar(0, total, barWidth);
    return { bar, bytes: total ? bytes(total) : "", rate: "", eta: "" };
  }
  return {
    bar: progressBar(p.bytesDone, p.bytesTotal, barWidth),
    bytes: p.bytesTotal ? `${bytes(p.bytesDone)}/${bytes(p.bytesTotal)}` : bytes(p.bytesDone),
    rate: rate(p.bytesPerSec),
    eta: p.etaSec === null ? "" : duration(p.etaSec),
  };
}

/** Sum of a fan-out's progress: bytes add up, rate adds up, ETA is the slowest. */
export function aggregateProgress(events: Array<ProgressEvent | undefined>, barWidth: number): ProgressText {
  let done = 0;
  let total = 0;
  let r = 0;
  let eta: number | null = null;
  let any = false;
  let unknownTotal = false;
  for (const p of events) {
    if (!p) continue;
    any = true;
    done += p.bytesDone;
    if (p.bytesTotal === null) unknownTotal = true;
    else total += p.bytesTotal;
    r += p.bytesPerSec;
    if (p.etaSec !== null) eta = Math.max(eta ?? 0, p.etaSec);
  }
  if (!any) return { bar: progressBar(0, null, barWidth), bytes: "", rate: "", eta: "" };
  return {
    bar: progressBar(done, unknownTotal ? null : total, barWidth),
    bytes: `${bytes(done)}/${unknownTotal ? "?" : bytes(total)}`,
    rate: rate(r),
    eta: eta === null ? "" : duration(eta),
  };
}
