import {
  describeStrategy,
  rolloutEnded,
  rolloutNodeOpId,
  rolloutNodeRevertId,
  type OpRecord,
  type Rollout,
  type RolloutNode,
} from "../protocol/index.js";
import type { Tone } from "../theme/tokens.js";
import { budgetUse, gateText, nodeBar, OUTCOME_WORD, STATE_TONE, tallyOf, waveText } from "./rollouts.js";
import { age } from "./units.js";

/** A line of a rollout's detail: a labelled field, or a node under its wave (with its op's live progress). */
export type DetailLine =
  | { kind: "field"; label: string; text: string; tone?: Tone }
  | { kind: "node"; node: string; outcome: string; tone: Tone; opId?: string; note?: string };

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;

/** The op a node's row is about now: its revert while reverting, else its upgrade. */
export function nodeOpId(row: RolloutNode): string {
  return row.o === "revert" || row.o === "reverted" || row.o === "revert-fail"
    ? rolloutNodeRevertId(row)
    : rolloutNodeOpId(row);
}

/**
 * Everything about one rollout, top to bottom: its state, gate and failure budget, then each wave
 * with its nodes (a running one with its op's progress, a failed one with why), then the skipped.
 */
export function rolloutDetailLines(
  r: Rollout,
  rows: readonly RolloutNode[],
  ops: ReadonlyMap<string, OpRecord>,
  now: number,
): DetailLine[] {
  const f = (label: string, text: string, tone?: Tone): DetailLine => ({ kind: "field", label, text, tone });
  const b = budgetUse(r, rows);
  const out: DetailLine[] = [
    f("id", r.id),
    f(
      "state",
      `${r.state}${r.dismissed ? " (dismissed)" : ""}${r.reason ? ` — ${r.reason}` : ""}`,
      STATE_TONE[r.state],
    ),
    f("wave", `${waveText(r)}   ${nodeBar(tallyOf(r, rows))}`),
    f("gate", gateText(r, rows, now)),
    f(
      "failures",
      `${b.used} of ${b.budget} allowed${b.forgiven > 0 ? ` (${b.forgiven} accepted on resume)` : ""}`,
      b.used > b.budget ? "err" : b.used > 0 ? "warn" : undefined,
    ),
    f("strategy", describeStrategy(r.strategy)),
    f("targeting", r.targeting.selector ? `${r.targeting.kind} ${r.targeting.selector}` : r.targeting.kind),
    f("created", `${age(r.createdAt, now)} ago by ${r.createdBy}`),
  ];
  for (let w = 0; w < r.waves.length; w++) {
    const inWave = rows.filter((x) => x.w === w);
    const ended = rolloutEnded(r.state);
    const where =
      r.state === "succeeded" || w < r.wave
        ? "passed"
        : w === r.wave
          ? ended
            ? `${r.state} in it`
            : "current"
          : ended
            ? "never started"
            : "not started";
    out.push(
      f(`wave ${w + 1}`, `${plural(inWave.length, "node")} · ${where}`, w === r.wave ? "accent" : undefined),
    );
    for (const row of inWave) {
      // A node an ended rollout never reached keeps what it had.
      const word =
        ended && row.o === "wait" ? { text: "untouched", tone: "muted" as const } : OUTCOME_WORD[row.o];
      const opId = nodeOpId(row);
      const op = ops.get(opId);
      const live = row.o === "run" || row.o === "revert";
      const note =
        row.why ?? op?.error ?? (row.o === "ok" || row.o === "reverted" ? (op?.target?.version ?? "") : "");
      out.push({
        kind: "node",
        node: row.node,
        outcome: word.text,
        tone: word.tone,
        ...(live ? { opId } : {}),
        ...(note ? { note: note.split("\n")[0] } : {}),
      });
    }
  }
  const skipped = rows.filter((x) => x.o === "skip");
  if (skipped.length > 0) {
    out.push(f("skipped", plural(skipped.length, "node")));
    for (const row of skipped)
      out.push({
        kind: "node",
        node: row.node,
        outcome: row.skip ?? "skipped",
        tone: "muted",
        note: row.why,
      });
  }
  return out;
}
