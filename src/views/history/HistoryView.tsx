import { Box } from "ink";
import { useEffect, useMemo, useRef, type ReactNode } from "react";
import { PlainTable } from "../../components/PlainTable.js";
import { TitleLine } from "../../components/TitleLine.js";
import { HISTORY_COLUMNS, historyRows, mergeByTime, outcomeRows } from "../../format/history.js";
import { useActions, useDash, useDashEnv } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";

const CHROME = 4;

/**
 * The audit trail from the controller (ops.history), newest first and live (new events arrive on
 * top as they are recorded); f follows them or holds the rows on screen; j/k scroll, ctrl+r reloads.
 */
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
  const follow = useDash((s) => s.historyFollow);
  const { setTable, toggleHistoryFollow } = useActions();
  useViewCommands("history", (cmd) => {
    if (cmd === "history.follow") {
      toggleHistoryFollow();
      if (!follow) setTable("history", { selectedIndex: 0 });
      return true;
    }
    if (cmd !== "view.refresh") return false;
    void runner.loadHistory();
    return true;
  });

  // New events arrive on top: following, the view goes back to the top; else it keeps its rows.
  const topKey = useRef<string | undefined>(undefined);
  const newestKey = t.rows[0]?.key;
  useEffect(() => {
    const before = topKey.current;
    topKey.current = newestKey;
    if (before === undefined || newestKey === before) return;
    const added = t.rows.findIndex((r) => r.key === before);
    if (added <= 0) return;
    setTable("history", { selectedIndex: follow ? 0 : t.state.selectedIndex + added });
  }, [newestKey]); // only when a new event comes on top

  const note =
    history.status === "loading"
      ? "loading…"
      : history.status === "error"
        ? `cannot load: ${history.error ?? "?"}`
        : follow
          ? "live · following (f holds)"
          : "live · held (f follows)";
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
