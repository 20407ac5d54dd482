import { useMemo, type ReactNode } from "react";
import type { CellRenderer } from "../../components/DataTable.js";
import { Spans } from "../../components/Spans.js";
import { TableView } from "../../components/TableView.js";
import { NODE_COLUMNS } from "../../format/nodes.js";
import type { Row } from "../../format/table.js";
import { fit } from "../../format/text.js";
import { age } from "../../format/units.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";
import { nodeRowCache } from "./row-cache.js";

/** A node's age, drawn live: only the rows on screen tick, the row itself stays as built. */
function SeenCell({ at, row, width }: { at: number | undefined; row: Row; width: number }): ReactNode {
  const now = useNow(1000);
  const text = at === undefined ? "" : age(at, now);
  return <Spans spans={[{ text: fit(text, width, "right"), tone: row.cells.seen?.tone }]} />;
}

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

  // Heartbeats are read on the 1 s clock instead of subscribed to, so 10,000 nodes' heartbeats
  // add no redraws and a key press (which re-renders this view) does not take in new ones.
  const heartbeats = useMemo(() => store.getState().heartbeats, [store, now]);
  const cache = nodeRowCache(store);
  const rows = cache.rowsAt({ nodes, heartbeats, inventory, ops, unreadable }, now);
  const renderers = useMemo<Record<string, CellRenderer>>(
    () => ({ seen: (row, w) => <SeenCell at={cache.lastSeen(row.key)} row={row} width={w} /> }),
    [cache],
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
      renderers={renderers}
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
