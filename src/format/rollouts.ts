import {
  failureBudget,
  rolloutEnded,
  type NodeOutcome,
  type Rollout,
  type RolloutNode,
  type RolloutState,
} from "../protocol/index.js";
import type { Tone } from "../theme/tokens.js";
import { age, duration } from "./units.js";
import type { Column, Row } from "./table.js";

/** A rollout's nodes as the bar shows them: skipped ones are not part of it. */
export interface NodeTally {
  done: number;
  running: number;
  failed: number;
  waiting: number;
  reverted: number;
  skipped: number;
}

const FAILED: readonly NodeOutcome[] = ["fail", "cancel", "revert-fail"];

export function tallyRows(rows: readonly RolloutNode[]): NodeTally {
  const t: NodeTally = { done: 0, running: 0, failed: 0, waiting: 0, reverted: 0, skipped: 0 };
  for (const r of rows) {
    if (r.o === "ok") t.done++;
    else if (r.o === "run" || r.o === "revert") t.running++;
    else if (r.o === "wait") t.waiting++;
    else if (r.o === "skip") t.skipped++;
    else if (r.o === "reverted") t.reverted++;
    else t.failed++;
  }
  return t;
}

/** The tally from the rows when the dashboard has them, else from the head's counts. */
export function tallyOf(r: Rollout, rows: readonly RolloutNode[] | undefined): NodeTally {
  if (rows && rows.length > 0) return tallyRows(rows);
  const c = r.counts;
  if (!c)
    return {
      done: 0,
      running: 0,
      failed: 0,
      waiting: r.eligible,
      reverted: 0,
      skipped: r.total - r.eligible,
    };
  return { ...c };
}

export const BAR_WIDTH = 10;
/** done █, running ▓, failed ✗, reverted ↺, waiting ░: each class a glyph of its own, not only a colour. */
export const BAR_GLYPHS = { done: "█", running: "▓", failed: "✗", reverted: "↺", waiting: "░" } as const;

/** `███▓✗░░░░░ 3/10`: the nodes in the waves, by outcome, scaled to `width` (a class present keeps one cell). */
export function nodeBar(t: NodeTally, width = BAR_WIDTH): string {
  const parts: Array<[keyof typeof BAR_GLYPHS, number]> = [
    ["done", t.done],
    ["running", t.running],
    ["failed", t.failed],
    ["reverted", t.reverted],
    ["waiting", t.waiting],
  ];
  const total = parts.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return `${" ".repeat(width)} 0/0`;
  const cells = parts.map(([k, n]): [keyof typeof BAR_GLYPHS, number] => [
    k,
    n === 0 ? 0 : Math.max(1, Math.round((n * width) / total)),
  ]);
  // Rounding and the one-cell minimum can overshoot or undershoot: the largest class takes the difference.
  const used = cells.reduce((s, [, n]) => s + n, 0);
  const big = cells.reduce((b, c, i) => (c[1] > cells[b]![1] ? i : b), 0);
  cells[big]![1] = Math.max(1, cells[big]![1] + (width - used));
  const bar = cells.map(([k, n]) => BAR_GLYPHS[k].repeat(n)).join("");
  return `${bar.slice(0, width).padEnd(width, BAR_GLYPHS.waiting)} ${t.done}/${total}`;
}

/** The version a rollout installs: the gallery's, else its builds' (one, or "several"). */
export function toVersion(r: Rollout): string {
  if (r.galleryVersion) return r.galleryVersion;
  const vs = [...new Set(Object.values(r.builds).map((b) => b.target.version ?? "?"))];
  return vs.length === 1 ? vs[0]! : "several";
}

/** What the targeted nodes ran before: one version, or "mixed" ("?" before the rows arrive). */
export function fromVersion(rows: readonly RolloutNode[] | undefined): string {
  const vs = [...new Set((rows ?? []).filter((x) => x.o !== "skip").map((x) => x.fromVersion ?? "?"))];
  return vs.length === 0 ? "?" : vs.length === 1 ? vs[0]! : "mixed";
}

/** `wave 2/4`; an ended rollout that succeeded shows every wave. */
export function waveText(r: Rollout): string {
  const n = r.waves.length;
  const k = r.state === "succeeded" ? n : Math.min(n, r.wave + 1);
  return `${k}/${n}`;
}

export const STATE_TONE: Record<RolloutState, Tone> = {
  planned: "muted",
  running: "accent",
  paused: "warn",
  succeeded: "ok",
  failed: "err",
  aborting: "warn",
  aborted: "err",
};

export const isActiveRollout = (r: Rollout): boolean => !rolloutEnded(r.state);

/** A rollout's rows, by rollout id (rows are kept under `<rolloutId>.<nodeId>`), in admission order. */
export function rowsByRollout(nodes: ReadonlyMap<string, RolloutNode>): Map<string, RolloutNode[]> {
  const out = new Map<string, RolloutNode[]>();
  for (const n of nodes.values()) {
    const list = out.get(n.rollout);
    if (list) list.push(n);
    else out.set(n.rollout, [n]);
  }
  for (const list of out.values()) list.sort((a, b) => a.i - b.i);
  return out;
}

export const ROLLOUT_COLUMNS: Column[] = [
  { id: "backend", title: "BACKEND", width: 10, identity: true },
  { id: "version", title: "FROM → TO", width: 9, drop: 2 },
  { id: "wave", title: "WAVE", width: 4 },
  { id: "nodes", title: "NODES", width: BAR_WIDTH + 4, keep: true, unsortable: true },
  { id: "state", title: "STATE", width: 9, keep: true },
  { id: "reason", title: "REASON", width: 10, flex: 1, drop: 1 },
  { id: "age", title: "AGE", width: 5, align: "right" },
];

/** One row per rollout, newest first; ended ones dim. */
export function rolloutTableRows(
  rollouts: ReadonlyMap<string, Rollout>,
  rows: ReadonlyMap<string, RolloutNode[]>,
  now: number,
): Row[] {
  return [...rollouts.values()]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((r) => {
      const own = rows.get(r.id);
      return {
        key: r.id,
        dim: !isActiveRollout(r),
        cells: {
          backend: { text: r.backend },
          version: { text: `${fromVersion(own)} → ${toVersion(r)}` },
          wave: { text: waveText(r) },
          nodes: { text: nodeBar(tallyOf(r, own)) },
          state: { text: r.state + (r.dismissed ? " (dismissed)" : ""), tone: STATE_TONE[r.state] },
          reason: { text: r.reason ?? "" },
          age: { text: age(r.createdAt, now), sort: -r.createdAt },
        },
      };
    });
}

/** Failures the budget counts now, and the budget of the current wave. */
export function budgetUse(
  r: Rollout,
  rows: readonly RolloutNode[],
): { used: number; budget: number; forgiven: number } {
  const failed = rows.filter((x) => x.o === "fail" || x.o === "cancel").length;
  return {
    used: Math.max(0, failed - r.forgiven),
    budget: failureBudget(r.strategy, r.wave, r.eligible),
    forgiven: r.forgiven,
  };
}

/** Where the gate of the current wave stands: its soak countdown, or what it waits for. */
export function gateText(r: Rollout, rows: readonly RolloutNode[], now: number): string {
  if (rolloutEnded(r.state)) return `ended ${age(r.endedAt ?? r.updatedAt, now)} ago`;
  if (r.state === "aborting") return "aborting: reverting the nodes it moved";
  const inWave = rows.filter((x) => x.w >= 0 && x.w <= r.wave);
  const pending = inWave.filter((x) => x.o === "wait" || x.o === "run").length;
  if (pending > 0) return `wave ${r.wave + 1}: ${pending} node${pending === 1 ? "" : "s"} still to finish`;
  if (r.promotedWave === r.wave) return `wave ${r.wave + 1} promoted: soak skipped`;
  if (r.soakStartedAt !== undefined) {
    const left = Math.max(0, r.soakStartedAt + r.strategy.soakMs - now);
    return `soak ${duration(left / 1000)} left of ${duration(r.strategy.soakMs / 1000)}`;
  }
  return r.state === "paused" ? "paused" : "waiting for the leader";
}

/** A node an abort reverts: from the version this rollout gave it back to the one it had. */
export interface RevertPlan {
  node: string;
  from: string;
  to: string;
}

/**
 * What an abort now does: the nodes this rollout moved are reverted (from the version of their
 * build back to the one before), the ops still running cancelled, the waiting left alone.
 */
export function abortEffect(
  r: Rollout,
  rows: readonly RolloutNode[],
): { revert: RevertPlan[]; cancel: string[]; waiting: number } {
  return {
    revert: rows
      .filter((x) => x.o === "ok")
      .map((x) => ({
        node: x.node,
        from: (x.c ? r.builds[x.c]?.target.version : undefined) ?? toVersion(r),
        to: x.fromVersion ?? (x.gen ? `generation ${x.gen}` : "its previous generation"),
      })),
    cancel: rows.filter((x) => x.o === "run").map((x) => x.node),
    waiting: rows.filter((x) => x.o === "wait").length,
  };
}

/** `1.1.0 → 1.0.0: a, b`: the reverts grouped by the change they undo, largest group first. */
export function revertGroups(revert: readonly RevertPlan[]): Array<{ change: string; nodes: string[] }> {
  const m = new Map<string, string[]>();
  for (const x of revert) {
    const k = `${x.from} → ${x.to}`;
    m.set(k, [...(m.get(k) ?? []), x.node]);
  }
  return [...m].map(([change, nodes]) => ({ change, nodes })).sort((a, b) => b.nodes.length - a.nodes.length);
}

export const OUTCOME_WORD: Record<NodeOutcome, { text: string; tone: Tone }> = {
  wait: { text: "waiting", tone: "muted" },
  skip: { text: "skipped", tone: "muted" },
  run: { text: "running", tone: "accent" },
  ok: { text: "✓ done", tone: "ok" },
  fail: { text: "✗ failed", tone: "err" },
  cancel: { text: "✗ cancelled", tone: "err" },
  revert: { text: "↺ reverting", tone: "warn" },
  reverted: { text: "↺ reverted", tone: "warn" },
  "revert-fail": { text: "✗ revert failed", tone: "err" },
};

export const isFailedOutcome = (o: NodeOutcome): boolean => FAILED.includes(o);

/** How a rollout ended, for a toast and History: `rollout llama-cpp 1.0 → 1.1 aborted: 2 nodes reverted`. */
export function rolloutEndText(
  r: Rollout,
  rows: readonly RolloutNode[] | undefined,
): { level: "ok" | "warn" | "err"; text: string; history: string } {
  const level = r.state === "succeeded" ? "ok" : r.state === "aborted" ? "warn" : "err";
  const how = `${fromVersion(rows)} → ${toVersion(r)} ${r.state}${r.reason ? `: ${r.reason}` : ""}`;
  return { level, text: `rollout ${r.backend} ${how}`, history: how };
}
