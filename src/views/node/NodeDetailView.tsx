import { Box, Text } from "ink";
import { useMemo, type ReactNode } from "react";
import { DataTable } from "../../components/DataTable.js";
import { PlainTable } from "../../components/PlainTable.js";
import { TitleLine } from "../../components/TitleLine.js";
import { NODE_BACKEND_COLUMNS, nodeBackendRows, opIndex, upgradeIndex } from "../../format/backends.js";
import { gpuText, isLost, nodeView, staleAfter } from "../../format/nodes.js";
import { holdLine, holdsOf, pinLine, policyLookup } from "../../format/policy.js";
import { nodeStatusText, statusText } from "../../format/status.js";
import type { Column, Row } from "../../format/table.js";
import { truncate } from "../../format/text.js";
import { age, bytes } from "../../format/units.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import { nodeStatusLook } from "../../theme/index.js";
import { HELD_MARK, PINNED_MARK, STALE_NODE_LOOK } from "../../theme/symbols.js";
import { keptGenerations } from "../backends/intents.js";
import type { ViewProps } from "../types.js";

const SUMMARY: Column[] = [
  { id: "status", title: "STATUS", width: 9, flex: 1 },
  { id: "capability", title: "CAPABILITY", width: 10, flex: 1 },
  { id: "gpu", title: "GPU", width: 6, flex: 1 },
  { id: "vram", title: "VRAM", width: 4 },
  { id: "disk", title: "DISK FREE", width: 9 },
  { id: "seen", title: "SEEN", width: 5 },
  { id: "agent", title: "AGENT", width: 7, wide: true },
];
const SUMMARY_LINES = 5;

/** One node: a summary (ink-table), its labels and status reason, and its installed backends. */
export function NodeDetailView({ entry, width, height }: ViewProps): ReactNode {
  const id = entry.param ?? "";
  const rec = useDash((s) => s.nodes.get(id));
  const hb = useDash((s) => s.heartbeats.get(id));
  const inv = useDash((s) => s.inventory.get(id));
  const upgrades = useDash((s) => s.upgrades);
  const policy = useDash((s) => s.policy);
  const nodes = useDash((s) => s.nodes);
  const inventory = useDash((s) => s.inventory);
  const upgradeNodes = useDash((s) => s.upgrade_nodes);
  const opsMap = useDash((s) => s.ops);
  const ops = useMemo(() => opIndex(opsMap.values()), [opsMap]);
  const live = useLive();
  const now = useNow(1000);
  const { runner, store } = useDashEnv();
  const { navigate, openInstall, toast } = useActions();

  const idx = useMemo(() => upgradeIndex(upgrades, upgradeNodes), [upgrades, upgradeNodes]);
  const covers = useMemo(() => policyLookup(policy, nodes, inventory), [policy, nodes, inventory]);
  const rows = useMemo(() => nodeBackendRows(inv, idx, ops, covers), [inv, idx, ops, covers]);
  const tableHeight = height - SUMMARY_LINES - 2;
  const t = useTable("node", `node:${id}`, rows, NODE_BACKEND_COLUMNS, tableHeight - 1);

  useViewCommands("node", (cmd) => {
    const backend = t.selectedRow?.key;
    switch (cmd) {
      case "nav.open":
        if (backend) navigate({ id: "backend", param: backend });
        return true;
      case "backend.upgrade":
        if (backend) runner.request({ kind: "upgrade", backend, nodes: [id] });
        return true;
      case "backend.reinstall":
        if (backend) runner.request({ kind: "reinstall", backend, nodes: [id] });
        return true;
      case "backend.rollback":
        if (backend && keptGenerations(store, backend, id).kept.length === 0)
          toast("warn", `${backend} on ${id} keeps no older generation: nothing to roll back to`);
        else if (backend) runner.request({ kind: "rollback", backend, nodes: [id] });
        return true;
      case "backend.delete":
        if (backend) runner.request({ kind: "delete", backend, nodes: [id] });
        return true;
      case "node.drain":
        if (rec) runner.request({ kind: rec.status === "draining" ? "resume" : "drain", nodeId: id });
        return true;
      case "install.open":
        openInstall({ from: `node ${id}`, nodes: [id] });
        return true;
      default:
        return false;
    }
  });

  if (!rec) {
    return (
      <Box flexDirection="column" height={height}>
        <TitleLine crumbs={["Nodes", id]} width={width} />
        <Text dimColor>node {id} is not in the nodes bucket (removed, or not loaded yet)</Text>
      </Box>
    );
  }
  const v = nodeView(rec, hb);
  const stale = now - v.lastSeen > staleAfter(rec, hb);
  const summary: Row[] = [
    {
      key: id,
      cells: {
        // As its row in Nodes: silent past the offline threshold reads stale, whatever the record says.
        status: isLost(rec, hb, now) ? statusText(STALE_NODE_LOOK) : nodeStatusText(rec.status),
        capability: { text: v.hb.capability },
        gpu: { text: gpuText(v.hb) },
        vram: { text: v.hb.gpu.vendor === "none" ? "-" : bytes(v.hb.gpu.vramBytes) },
        disk: { text: `${bytes(v.hb.disk.freeBytes)}/${bytes(v.hb.disk.totalBytes)}` },
        seen: { text: `${age(v.lastSeen, now)}${stale ? "!" : ""}` },
        agent: { text: v.hb.agentVersion },
      },
    },
  ];
  const labels = Object.entries(v.hb.labels ?? {})
    .map(([k, val]) => `${k}=${val}`)
    .join(" ");
  const holds = holdsOf(policy, id).map((h) => `${HELD_MARK} ${holdLine(h)}`);
  const pins = new Map(
    (inv?.backends ?? []).flatMap((b) => {
      const pin = covers(id, b.name)?.pin;
      return pin ? [[pin.backend, `${PINNED_MARK} ${pin.backend} ${pinLine(pin)}`] as const] : [];
    }),
  );
  const info = [
    ...holds,
    ...pins.values(),
    rec.statusReason ? `reason: ${rec.statusReason}` : "",
    `${nodeStatusLook[rec.status].word} for ${age(rec.statusSince, now)}`,
    labels ? `labels: ${labels}` : "",
    stale ? `no heartbeat for ${age(v.lastSeen, now)}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  return (
    <Box flexDirection="column" height={height}>
      <TitleLine crumbs={["Nodes", `${id} (${v.hb.name})`]} width={width} />
      <PlainTable columns={SUMMARY} rows={summary} width={width} height={SUMMARY_LINES} offset={0} />
      <Text wrap="truncate" dimColor={stale || !live}>
        {truncate(info, width)}
      </Text>
      <DataTable
        columns={NODE_BACKEND_COLUMNS}
        rows={t.rows}
        selected={t.selected}
        width={width}
        height={tableHeight}
        sort={t.state.sort}
        stale={!live}
        empty={
          inv ? "no backends installed: press i to install one" : "no inventory reported by this node yet"
        }
      />
    </Box>
  );
}
