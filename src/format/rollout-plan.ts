import {
  DEFAULT_FIRST_WAVE_FAILURES,
  DEFAULT_LATER_FAILURES,
  type RolloutPlanView,
  type Strategy,
} from "../protocol/index.js";
import { duration, shortDigest } from "./units.js";

/**
 * The `u` dialog shows a rollout's plan in at most this many lines below its title, so that at
 * 80×24 (14 text lines in the dialog) the buttons stay on screen.
 */
export const PLAN_WAVE_LINES = 4;
export const PLAN_SKIP_LINES = 3;
/** Characters of node names on one line, after its label (the dialog's text is 66 wide at 80 columns). */
const NAMES_WIDTH = 44;

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;

type Side = { version?: string; digest?: string };
const versionOf = (x: Side): string => x.version ?? (shortDigest(x.digest) || "?");

/** `a, b, c +12 more`, as many names as fit in `width` characters, of `total` (names may be the first only). */
export function fitNames(names: readonly string[], width = NAMES_WIDTH, total = names.length): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const next = out ? `${out}, ${names[i]}` : names[i]!;
    const left = total - i - 1;
    const tail = left > 0 ? ` +${left} more` : "";
    if (next.length + tail.length > width && out) return `${out} +${total - i} more`;
    out = next;
  }
  return total > names.length ? `${out} +${total - names.length} more` : out;
}

/** What the planned nodes run now, and what they get: `1.0.0 → 1.1.0`, `0.9.0, 1.0.0 → 1.1.0`. */
export function planFromTo(plan: RolloutPlanView): { from: string[]; to: string } {
  const from = [...new Set(plan.from.map(versionOf))];
  const tos = [...new Set(plan.to.map(versionOf))];
  const to = plan.galleryVersion ?? (tos.length === 1 ? tos[0]! : tos.length === 0 ? "?" : "several");
  return { from, to };
}

export function planChange(plan: RolloutPlanView): string {
  const { from, to } = planFromTo(plan);
  return `${from.length === 0 ? "?" : from.length <= 2 ? from.join(", ") : "mixed"} → ${to}`;
}

/** The strategy but its waves (listed above), in one line of the dialog. */
function strategyLine(s: Strategy): string {
  const failures = s.maxFailures ?? `${DEFAULT_FIRST_WAVE_FAILURES} then ${DEFAULT_LATER_FAILURES}`;
  return [
    `max ${s.maxParallel} at once`,
    `soak ${duration(s.soakMs / 1000)}`,
    `max failures ${failures}`,
    ...(s.autoPromote ? [] : ["promote by hand"]),
    ...(s.autoRevert ? ["auto-revert"] : []),
  ].join(" · ");
}

/** `label  3 nodes  a, b, c`: one line, whatever the number of names (`names`: the first of `total`). */
function row(label: string, names: readonly string[], total = names.length): string {
  return `  ${label.padEnd(9)} ${plural(total, "node").padEnd(9)} ${fitNames(names, NAMES_WIDTH, total)}`;
}

/** Nodes the plan moves, listed or not. */
export const plannedCount = (plan: RolloutPlanView): number => plan.waveSizes.reduce((n, w) => n + w, 0);

/**
 * The plan as the confirm dialog lists it: each wave with its node count and nodes, where the
 * nodes come from when they differ, the skipped grouped by reason, and the strategy; long lists
 * end in "+N more" so the whole fits 80×24.
 */
export function planDialogLines(plan: RolloutPlanView, having: number): string[] {
  const waves = plan.waves
    .map((listed, i) => ({ listed, size: plan.waveSizes[i] ?? listed.length }))
    .filter((w) => w.size > 0);
  const planned = plannedCount(plan);
  const lines: string[] = [];
  const nodes =
    having > planned ? `${planned} of the ${plural(having, "node")} that have it` : plural(planned, "node");
  lines.push(
    planned === 0
      ? "Nothing to upgrade: every targeted node is skipped."
      : `${nodes}, in ${plural(waves.length, "wave")}:`,
  );
  const shown = waves.length > PLAN_WAVE_LINES ? PLAN_WAVE_LINES - 1 : waves.length;
  waves.slice(0, shown).forEach((w, i) =>
    lines.push(
      row(
        `wave ${i + 1}`,
        w.listed.map((n) => n.nodeId),
        w.size,
      ),
    ),
  );
  if (shown < waves.length) {
    const rest = waves.slice(shown).reduce((n, w) => n + w.size, 0);
    lines.push(`  +${waves.length - shown} more waves (${plural(rest, "node")})`);
  }

  const from = new Map<string, number>();
  for (const v of plan.from) from.set(versionOf(v), (from.get(versionOf(v)) ?? 0) + v.nodes);
  if (from.size > 1)
    lines.push(
      `  from ${[...from]
        .sort((a, b) => b[1] - a[1])
        .map(([v, n]) => `${v} on ${n}`)
        .join(", ")}`,
    );

  const reasons = plan.skippedBy;
  if (reasons.length > 0) {
    lines.push(`${plural(plan.skippedCount, "node")} skipped:`);
    const fits = reasons.length > PLAN_SKIP_LINES ? PLAN_SKIP_LINES - 1 : reasons.length;
    for (const r of reasons.slice(0, fits)) lines.push(row(r.skip, r.first, r.nodes));
    if (fits < reasons.length)
      lines.push(
        `  +${reasons
          .slice(fits)
          .map((r) => `${r.nodes} ${r.skip}`)
          .join(", ")}`,
      );
  }
  if (planned > 0) {
    lines.push(strategyLine(plan.strategy));
    lines.push("Pause, promote or abort (which reverts) it from the Rollouts view.");
  }
  return lines;
}
