import { useMemo, type ReactNode } from "react";
import { TableView } from "../../components/TableView.js";
import { NODE_COLUMNS, nodeRows } from "../../format/nodes.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";

export function NodesView({ width, height }: ViewProps): ReactNode {
  const nodes = useDash((s) => s.nodes);
  const { store, runner } = useDashEnv();
  const inventory = useDash((s) => s.inventory);
  const ops = useDash((s) => s.ops);
  const synced = useDash((s) => s.synced.nodes);
  const unreadable = useDash((s) => s.unreadableNodes);
  const live = useLive();
  const now = useNow(1000);
  const { navigate, openInstall } = useActions();

  // Heartbeats only move the ages, which the 1 s clock redraws anyway: read them when the rows are
  // built instead of subscribing, so 500 nodes' heartbeats add no redraws and a key press (which
  // re-renders this view) does not rebuild every row.
  const rows = useMemo(
    () => nodeRows({ nodes, heartbeats: store.getState().heartbeats, inventory, ops, now, unreadable }),
    [store, nodes, inventory, ops, now, unreadable],
  );
  const t = useTable("nodes", "nodes", rows, NODE_COLUMNS, height - 2);

  useViewCommands("nodes", (cmd) => {
    const id = t.selectedRow?.key;
    switch (cmd) {
      case "nav.open":
        if (id) navigate({ id: "node", param: id });
        return true;
      case "node.drain": {
        const n = id ? nodes.get(id) : undefined;
        if (n) runner.request({ kind: n.status === "draining" ? "resume" : "drain", nodeId: n.id });
        return true;
      }
      case "install.open":
        openInstall(id ? { from: "Nodes", nodes: [id] } : undefined);
        return true;
      default:
        return false;
    }
  });

  return (
    <TableView
      t={t}
      columns={NODE_COLUMNS}
      crumbs={["Nodes"]}
      width={width}
      height={height}
      stale={!live}
      empty={
        t.total > 0
          ? `no node matches "${t.state.filter}" (esc clears the filter)`
          : synced
            ? "no nodes have registered yet: start `backplane agent` on a node"
            : "waiting for the nodes bucket…"
      }
    />
  );
}
