import { memo, type ReactNode } from "react";
import { aggregateProgress, PROGRESS_PARTS, progressLine, progressText } from "../format/ops.js";
import { useDash } from "../hooks/context.js";
import { toneStyle, useTheme } from "../theme/index.js";
import { Spans } from "./Spans.js";

function Line({ line }: { line: string }): ReactNode {
  const p = useTheme();
  return (
    <Spans
      spans={[
        { text: line.slice(0, PROGRESS_PARTS.bar), style: { color: toneStyle(p, "accent").color } },
        { text: line.slice(PROGRESS_PARTS.bar) },
      ]}
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
