import { useMemo, type ReactNode } from "react";
import type { CellRenderer } from "../../components/DataTable.js";
import { TableView } from "../../components/TableView.js";
import { GroupProgress, OpProgress } from "../../components/OpProgress.js";
import { Spans } from "../../components/Spans.js";
import { groupOps, OP_COLUMNS, opIdsOfRow, opRows } from "../../format/ops.js";
import type { Row } from "../../format/table.js";
import { fit } from "../../format/text.js";
import { age } from "../../format/units.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import { isActive } from "../../protocol/index.js";
import type { ViewProps } from "../types.js";
import { runOpAction } from "./actions.js";

function AgeCell({ at, width }: { at: number; width: number }): ReactNode {
  const now = useNow(1000);
  return <Spans spans={[{ text: fit(age(at, now), width, "right") }]} />;
}

/** Active operations with live bars (a fan-out as a group with a row per node), and failed ones until dismissed. */
export function OperationsView({ width, height }: ViewProps): ReactNode {
  const ops = useDash((s) => s.ops);
  const synced = useDash((s) => s.synced.ops);
  const live = useLive();
  const { runner } = useDashEnv();
  const { navigate, toast, toggleOpsAll } = useActions();

  // Recomputed each second only so finished ops leave after their linger.
  const now = useNow(1000);
  const keep = useDash((s) => s.opsKeep);
  const groups = useMemo(() => groupOps(ops.values(), now, keep), [ops, now, keep]);
  const rows = useMemo(() => opRows(groups, now), [groups, now]);
  const t = useTable("ops", "ops", rows, OP_COLUMNS, height - 2);

  const renderers = useMemo(() => {
    const idsOf = new Map(groups.map((g) => [g.key, g.ops.map((o) => o.id)]));
    const firstAt = new Map(groups.map((g) => [g.key, g.ops[0]!.createdAt]));
    const live: CellRenderer = (row: Row) => {
      const ids = idsOf.get(row.key);
      return ids ? <GroupProgress opIds={ids} /> : <OpProgress opId={row.key} />;
    };
    return {
      progress: live,
      age: (row: Row, w: number) => (
        <AgeCell at={firstAt.get(row.key) ?? ops.get(row.key)?.createdAt ?? 0} width={w} />
      ),
    };
  }, [groups, ops]);

  const selectedOps = () =>
    opIdsOfRow(t.selectedRow, groups).flatMap((id) => {
      const o = ops.get(id);
      return o ? [o] : [];
    });

  useViewCommands("ops", (cmd) => {
    if (cmd === "ops.all") {
      toggleOpsAll();
      return true;
    }
    const row = t.selectedRow;
    if (!row) return false;
    if (cmd === "nav.open") {
      // A fan-out's row opens its first op; each node's row under it opens that one.
      const first = opIdsOfRow(row, groups)[0];
      if (first) navigate({ id: "op", param: first });
      return true;
    }
    return runOpAction(cmd, selectedOps(), row.cells.op?.text ?? "", runner, toast);
  });

  // Once per change of the ops map (10,000 records during a fleet-wide fan-out), not per key press.
  const running = useMemo(() => {
    let n = 0;
    for (const o of ops.values()) if (isActive(o)) n++;
    return n;
  }, [ops]);
  return (
    <TableView
      t={t}
      columns={OP_COLUMNS}
      crumbs={["Operations"]}
      note={`${running} active · ${keep.all ? "showing all (f: active only)" : "f: show all"}`}
      width={width}
      height={height}
      stale={!live}
      renderers={renderers}
      empty={
        t.total > 0
          ? `no operation matches "${t.state.filter}"`
          : synced
            ? "nothing running; f shows finished ones, History (4) has the rest"
            : "waiting for the ops bucket…"
      }
    />
  );
}
