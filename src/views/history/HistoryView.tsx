import { Box } from "ink";
import { useEffect, useMemo, type ReactNode } from "react";
import { PlainTable } from "../../components/PlainTable.js";
import { TitleLine } from "../../components/TitleLine.js";
import { HISTORY_COLUMNS, historyRows, mergeByTime, outcomeRows } from "../../format/history.js";
import { age } from "../../format/units.js";
import { useDash, useDashEnv } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";

const CHROME = 4;

/** The audit trail from the controller (ops.history), newest first; j/k scroll, ctrl+r reloads. */
export function HistoryView({ width, height }: ViewProps): ReactNode {
  const history = useDash((s) => s.history);
  const { runner } = useDashEnv();
  const now = useNow(5000);
  useEffect(() => {
    void runner.loadHistory();
  }, [runner]);

  const outcomes = useDash((s) => s.outcomes);
  const rows = useMemo(
    () => mergeByTime(outcomeRows(outcomes, "this dashboard", now), historyRows(history.data, now)),
    [outcomes, history.data, now],
  );
  const fits = Math.max(1, height - 1 - CHROME);
  const t = useTable("history", "history", rows, HISTORY_COLUMNS, fits, "scroll");
  useViewCommands("history", (cmd) => {
    if (cmd !== "view.refresh") return false;
    void runner.loadHistory();
    return true;
  });

  const note =
    history.status === "loading"
      ? "loading…"
      : history.status === "error"
        ? `cannot load: ${history.error ?? "?"}`
        : history.at
          ? `loaded ${age(history.at, now)} ago`
          : undefined;
  const first = Math.max(0, t.selected);
  return (
    <Box flexDirection="column" height={height}>
      <TitleLine
        crumbs={["History"]}
        width={width}
        shown={t.rows.length}
        total={t.total}
        filter={t.state.filter}
        sort={t.state.sort}
        columns={HISTORY_COLUMNS}
        note={
          t.rows.length > fits
            ? `rows ${first + 1}–${Math.min(first + fits, t.rows.length)} · ${note ?? ""}`
            : note
        }
      />
      <PlainTable
        columns={HISTORY_COLUMNS}
        rows={t.rows}
        width={width}
        height={height - 1}
        offset={first}
        empty={history.status === "ok" ? "no events in the last 30 days" : "…"}
      />
    </Box>
  );
}
