import { Box, Text } from "ink";
import { useMemo, type ReactNode } from "react";
import { TableView } from "../../components/TableView.js";
import {
  backendIndex,
  matrixColumns,
  matrixFits,
  matrixRows,
  opIndex,
  SUMMARY_COLUMNS,
  summaryRows,
  upgradeIndex,
} from "../../format/backends.js";
import { byName } from "../../format/nodes.js";
import { backendPolicyLine, POLICY_LEGEND, policyLookup } from "../../format/policy.js";
import { truncate } from "../../format/text.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";
import { keptGenerations } from "./intents.js";

/**
 * One row per backend. With few nodes, one column per node (version or short digest, `↑` when an
 * upgrade is available there, `≠` for drift); with many, a summary per backend. Enter drills into
 * the per-node list either way.
 */
export function BackendsView({ width, height }: ViewProps): ReactNode {
  const inventory = useDash((s) => s.inventory);
  const nodes = useDash((s) => s.nodes);
  const upgrades = useDash((s) => s.upgrades);
  const policy = useDash((s) => s.policy);
  const upgradeNodes = useDash((s) => s.upgrade_nodes);
  const opsMap = useDash((s) => s.ops);
  const ops = useMemo(() => opIndex(opsMap.values()), [opsMap]);
  const synced = useDash((s) => s.synced.inventory);
  const live = useLive();
  const { runner, store } = useDashEnv();
  const { navigate, toast } = useActions();

  const nodeIds = useMemo(
    () => [...new Set([...nodes.keys(), ...inventory.keys()])].sort(byName),
    [nodes, inventory],
  );
  const matrix = matrixFits(nodeIds.length, width);
  const idx = useMemo(() => upgradeIndex(upgrades, upgradeNodes), [upgrades, upgradeNodes]);
  const entries = useMemo(() => backendIndex(inventory), [inventory]);
  const covers = useMemo(() => policyLookup(policy, nodes, inventory), [policy, nodes, inventory]);
  // A line under the matrix says what its ⏸ and ⊤ marks mean for the selected backend.
  const detailLines = matrix && policy.size > 0 ? 1 : 0;
  const columns = useMemo(() => (matrix ? matrixColumns(nodeIds) : SUMMARY_COLUMNS), [matrix, nodeIds]);
  const rows = useMemo(
    () =>
      matrix
        ? matrixRows(entries.values(), nodeIds, idx, ops, covers)
        : summaryRows(entries.values(), nodeIds.length, idx),
    [matrix, entries, nodeIds, idx, ops, covers],
  );
  const t = useTable("backends", "backends", rows, columns, height - 2 - detailLines);

  useViewCommands("backends", (cmd) => {
    const name = t.selectedRow?.key;
    if (!name) return false;
    switch (cmd) {
      case "nav.open":
        navigate({ id: "backend", param: name });
        return true;
      case "backend.upgrade":
        // Everywhere is offered only where an upgrade is known, and goes in waves: a rollout.
        if ((idx.upgradable.get(name)?.size ?? 0) === 0)
          toast("warn", `${name}: no node has a newer version known (U checks now; r reinstalls)`);
        else runner.request({ kind: "rolloutStart", backend: name });
        return true;
      case "backend.reinstall":
        runner.request({ kind: "reinstall", backend: name });
        return true;
      case "backend.rollback": {
        // Every node that keeps an older generation of it (the dialog lists them).
        const nodes = [...(entries.get(name)?.perNode.keys() ?? [])].filter(
          (n) => keptGenerations(store, name, n).kept.length > 0,
        );
        if (nodes.length === 0)
          toast("warn", `no node keeps an older generation of ${name}: nothing to roll back to`);
        else runner.request({ kind: "rollback", backend: name, nodes });
        return true;
      }
      case "backend.delete":
        runner.request({ kind: "delete", backend: name });
        return true;
      default:
        return false;
    }
  });

  const selected = t.selectedRow?.key;
  // A lookup per node for the selected backend: once per selection or change, not per render.
  const detail = useMemo(
    () => (detailLines ? (selected && backendPolicyLine(selected, nodeIds, covers)) || POLICY_LEGEND : ""),
    [detailLines, selected, nodeIds, covers],
  );
  return (
    <Box flexDirection="column" height={height}>
      <TableView
        t={t}
        columns={columns}
        crumbs={["Backends"]}
        note={matrix ? undefined : `${nodeIds.length} nodes: enter for per-node versions`}
        width={width}
        height={height - detailLines}
        stale={!live}
        empty={
          t.total > 0
            ? `no backend matches "${t.state.filter}"`
            : synced
              ? "no backends installed anywhere yet: press i to install one"
              : "waiting for the inventory bucket…"
        }
      />
      {detailLines > 0 && (
        <Text wrap="truncate" dimColor={!live}>
          {truncate(detail, width)}
        </Text>
      )}
    </Box>
  );
}
