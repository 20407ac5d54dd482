import { memo, type ReactNode } from "react";
import { useShallow } from "zustand/react/shallow";
import { aggregateProgress, PROGRESS_PARTS, progressParts, progressText } from "../format/ops.js";
import { useDash } from "../hooks/context.js";
import { toneStyle, useTheme } from "../theme/index.js";
import { Spans } from "./Spans.js";

/**
 * Each part is a text node of its own. Ink keeps every distinct string it has measured for the
 * life of the process, and a whole progress line is new on nearly every tick; its parts, each on
 * its own, repeat (a percentage, a rate), so what Ink keeps stays small however long this runs.
 */
function Line({ parts }: { parts: readonly string[] }): ReactNode {
  const p = useTheme();
  const accent = { color: toneStyle(p, "accent").color };
  return (
    <Spans
      spans={parts.map((part, i) => ({
        // One space before each part after the bar.
        text: i === 0 ? part : ` ${part}`,
        style: i === 0 ? accent : undefined,
      }))}
    />
  );
}

/**
 * An op's live progress (bar, bytes, rate, ETA). It selects only that op's progress and record
 * as the line's parts (compared part by part, so an unchanged line re-renders nothing), so a
 * progress tick re-renders this cell and nothing else on screen.
 */
export const OpProgress = memo(function OpProgress({ opId }: { opId: string }): ReactNode {
  const parts = useDash(
    useShallow((s) => progressParts(progressText(s.progress.get(opId), s.ops.get(opId), PROGRESS_PARTS.bar))),
  );
  return <Line parts={parts} />;
});

/** The same for a fan-out: bytes and rates summed over its ops, the slowest ETA. */
export const GroupProgress = memo(function GroupProgress({ opIds }: { opIds: readonly string[] }): ReactNode {
  const parts = useDash(
    useShallow((s) =>
      progressParts(
        aggregateProgress(
          opIds.map((id) => s.progress.get(id)),
          PROGRESS_PARTS.bar,
        ),
      ),
    ),
  );
  return <Line parts={parts} />;
});
