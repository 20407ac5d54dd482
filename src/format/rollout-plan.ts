import {
  DEFAULT_FIRST_WAVE_FAILURES,
  DEFAULT_LATER_FAILURES,
  type RolloutPlanView,
  type SkipReason,
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

/** `a, b, c +12 more`, as many names as fit in `width` characters. */
export function fitNames(names: readonly string[], width = NAMES_WIDTH): string {
  let out = "";
  for (let i = 0; i < names.length; i++) {
    const next = out ? `${out}, ${names[i]}` : names[i]!;
    const left = names.length - i - 1;
    const tail = left > 0 ? ` +${left} more` : "";
    if (next.length + tail.length > width && out) return `${out} +${names.length - i} more`;
    out = next;
  }
  return out;
}

/** What the planned nodes run now, and what they get: `1.0.0 → 1.1.0`, `0.9.0, 1.0.0 → 1.1.0`. */
export function planFromTo(plan: RolloutPlanView): { from: string[]; to: string } {
  const nodes = plan.waves.flat();
  const from = [...new Set(nodes.map((n) => versionOf(n.from)))];
  const tos = [...new Set(nodes.map((n) => versionOf(n.to)))];
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

/** `label  3 nodes  a, b, c`: one line, whatever the number of names. */
function row(label: string, names: readonly string[]): string {
  return `  ${label.padEnd(9)} ${plural(names.length, "node").padEnd(9)} ${fitNames(names)}`;
}

/**
 * The plan as the confirm dialog lists it: each wave with its node count and nodes, where the
 * nodes come from when they differ, the skipped grouped by reason, and the strategy; long lists
 * end in "+N more" so the whole fits 80×24.
 */
export function planDialogLines(plan: RolloutPlanView, having: number): string[] {
  const waves = plan.waves.filter((w) => w.length > 0);
  const planned = waves.reduce((n, w) => n + w.length, 0);
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
        w.map((n) => n.nodeId),
      ),
    ),
  );
  if (shown < waves.length) {
    const rest = waves.slice(shown).flat();
    lines.push(`  +${waves.length - shown} more waves (${plural(rest.length, "node")})`);
  }

  const from = new Map<string, number>();
  for (const n of waves.flat()) from.set(versionOf(n.from), (from.get(versionOf(n.from)) ?? 0) + 1);
  if (from.size > 1)
    lines.push(
      `  from ${[...from]
        .sort((a, b) => b[1] - a[1])
        .map(([v, n]) => `${v} on ${n}`)
        .join(", ")}`,
    );

  const byReason = new Map<SkipReason, string[]>();
  for (const s of plan.skipped) byReason.set(s.skip, [...(byReason.get(s.skip) ?? []), s.nodeId]);
  if (byReason.size > 0) {
    lines.push(`${plural(plan.skipped.length, "node")} skipped:`);
    const reasons = [...byReason].sort((a, b) => b[1].length - a[1].length);
    const fits = reasons.length > PLAN_SKIP_LINES ? PLAN_SKIP_LINES - 1 : reasons.length;
    for (const [why, nodes] of reasons.slice(0, fits)) lines.push(row(why, nodes));
    if (fits < reasons.length)
      lines.push(
        `  +${reasons
          .slice(fits)
          .map(([why, nodes]) => `${nodes.length} ${why}`)
          .join(", ")}`,
      );
  }
  if (planned > 0) {
    lines.push(strategyLine(plan.strategy));
    lines.push("Pause, promote or abort (which reverts) it from the Rollouts view.");
  }
  return lines;
}
