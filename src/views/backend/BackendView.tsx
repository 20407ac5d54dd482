import { useMemo, type ReactNode } from "react";
import { TableView } from "../../components/TableView.js";
import { BACKEND_NODE_COLUMNS, backendIndex, backendNodeRows, upgradeIndex } from "../../format/backends.js";
import { backendPolicyLine, policyLookup } from "../../format/policy.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useTable } from "../../hooks/useTable.js";
import { keptGenerations } from "../backends/intents.js";
import type { ViewProps } from "../types.js";

/** One backend across the cluster: a row per node that has it, with version, digest and badges. */
export function BackendView({ entry, width, height }: ViewProps): ReactNode {
  const name = entry.param ?? "";
  const inventory = useDash((s) => s.inventory);
  const nodes = useDash((s) => s.nodes);
  const upgrades = useDash((s) => s.upgrades);
  const policy = useDash((s) => s.policy);
  const upgradeNodes = useDash((s) => s.upgrade_nodes);
  const live = useLive();
  const { runner, store } = useDashEnv();
  const { navigate, toast } = useActions();

  const idx = useMemo(() => upgradeIndex(upgrades, upgradeNodes), [upgrades, upgradeNodes]);
  const covers = useMemo(() => policyLookup(policy, nodes, inventory), [policy, nodes, inventory]);
  const rows = useMemo(
    () => backendNodeRows(backendIndex(inventory).get(name), nodes, idx, covers),
    [inventory, nodes, idx, name, covers],
  );
  const tableKey = `backend:${name}`;
  const t = useTable("backend", tableKey, rows, BACKEND_NODE_COLUMNS, height - 2);

  useViewCommands("backend", (cmd) => {
    const nodeId = t.selectedRow?.key;
    if (!nodeId) return false;
    switch (cmd) {
      case "nav.open":
        navigate({ id: "node", param: nodeId });
        return true;
      case "backend.upgrade":
        runner.request({ kind: "upgrade", backend: name, nodes: [nodeId] });
        return true;
      case "backend.reinstall":
        runner.request({ kind: "reinstall", backend: name, nodes: [nodeId] });
        return true;
      case "backend.rollback":
        if (keptGenerations(store, name, nodeId).kept.length === 0)
          toast("warn", `${name} on ${nodeId} keeps no older generation: nothing to roll back to`);
        else runner.request({ kind: "rollback", backend: name, nodes: [nodeId] });
        return true;
      case "backend.delete":
        runner.request({ kind: "delete", backend: name, nodes: [nodeId] });
        return true;
      default:
        return false;
    }
  });

  const avail = idx.available.get(name);
  // A lookup per node that has it (10,000 at most): once per change of its inputs, not per key press.
  const covered = useMemo(
    () =>
      backendPolicyLine(
        name,
        rows.map((r) => r.key),
        covers,
      ),
    [name, rows, covers],
  );
  const note = [avail ? `available: ${avail}` : "", covered].filter(Boolean).join(" · ");
  return (
    <TableView
      t={t}
      columns={BACKEND_NODE_COLUMNS}
      crumbs={["Backends", name]}
      note={note || undefined}
      width={width}
      height={height}
      stale={!live}
      empty={t.total > 0 ? `no node matches "${t.state.filter}"` : `${name} is not installed on any node`}
    />
  );
}
