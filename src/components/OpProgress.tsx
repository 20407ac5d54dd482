import { memo, type ReactNode } from "react";
import { aggregateProgress, PROGRESS_PARTS, progressLine, progressText } from "../format/ops.js";
import { useDash } from "../hooks/context.js";
import { toneStyle, useTheme } from "../theme/index.js";
import { Spans } from "./Spans.js";

/** Where each part of a progress line starts and ends: bar, bytes, rate, ETA (one space before each after the bar). */
const PART_ENDS = [
  PROGRESS_PARTS.bar,
  PROGRESS_PARTS.bar + 1 + PROGRESS_PARTS.bytes,
  PROGRESS_PARTS.bar + 2 + PROGRESS_PARTS.bytes + PROGRESS_PARTS.rate,
  PROGRESS_PARTS.bar + 3 + PROGRESS_PARTS.bytes + PROGRESS_PARTS.rate + PROGRESS_PARTS.eta,
];

/**
 * Each part is a text node of its own. Ink keeps every distinct string it has measured for the
 * life of the process, and a whole progress line is new on nearly every tick; its parts, each on
 * its own, repeat (a percentage, a rate), so what Ink keeps stays small however long this runs.
 */
function Line({ line }: { line: string }): ReactNode {
  const p = useTheme();
  const accent = { color: toneStyle(p, "accent").color };
  return (
    <Spans
      spans={PART_ENDS.map((end, i) => ({
        text: line.slice(i === 0 ? 0 : PART_ENDS[i - 1], end),
        style: i === 0 ? accent : undefined,
      }))}
    />
  );
}

/**
 * An op's live progress (bar, bytes, rate, ETA). It selects only that op's progress and record
 * and returns a string, so a progress tick re-renders this cell and nothing else on screen.
 */
export const OpProgress = memo(function OpProgress({ opId }: { opId: string }): ReactNode {
  const line = useDash((s) =>
    progressLine(progressText(s.progress.get(opId), s.ops.get(opId), PROGRESS_PARTS.bar)),
  );
  return <Line line={line} />;
});

/** The same for a fan-out: bytes and rates summed over its ops, the slowest ETA. */
export const GroupProgress = memo(function GroupProgress({ opIds }: { opIds: readonly string[] }): ReactNode {
  const line = useDash((s) =>
    progressLine(
      aggregateProgress(
        opIds.map((id) => s.progress.get(id)),
        PROGRESS_PARTS.bar,
      ),
    ),
  );
  return <Line line={line} />;
});
