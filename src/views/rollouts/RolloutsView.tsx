import { useMemo, type ReactNode } from "react";
import { TableView } from "../../components/TableView.js";
import { isActiveRollout, ROLLOUT_COLUMNS, rolloutTableRows, rowsByRollout } from "../../format/rollouts.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";
import { runRolloutAction } from "./actions.js";

/** Every rollout, newest first: backend, from → to, wave k/n, its nodes as a bar, state and reason, age. */
export function RolloutsView({ width, height }: ViewProps): ReactNode {
  const rollouts = useDash((s) => s.rollouts);
  const nodes = useDash((s) => s.rollout_nodes);
  const synced = useDash((s) => s.synced.rollouts);
  const live = useLive();
  const now = useNow(1000);
  const { runner } = useDashEnv();
  const { navigate, toast } = useActions();

  const byRollout = useMemo(() => rowsByRollout(nodes), [nodes]);
  const rows = useMemo(() => rolloutTableRows(rollouts, byRollout, now), [rollouts, byRollout, now]);
  const t = useTable("rollouts", "rollouts", rows, ROLLOUT_COLUMNS, height - 2);

  useViewCommands("rollouts", (cmd) => {
    const id = t.selectedRow?.key;
    if (cmd === "nav.open") {
      if (id) navigate({ id: "rollout", param: id });
      return true;
    }
    return runRolloutAction(
      cmd,
      id ? rollouts.get(id) : undefined,
      (id && byRollout.get(id)) || [],
      runner,
      toast,
    );
  });

  const active = [...rollouts.values()].filter(isActiveRollout).length;
  return (
    <TableView
      t={t}
      columns={ROLLOUT_COLUMNS}
      crumbs={["Rollouts"]}
      note={`${active} active`}
      width={width}
      height={height}
      stale={!live}
      empty={
        t.total > 0
          ? `no rollout matches "${t.state.filter}"`
          : synced
            ? "no rollouts: `backplane rollouts start` begins one"
            : "waiting for the rollouts bucket…"
      }
    />
  );
}
