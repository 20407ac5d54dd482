import { listAllNodes } from "../client/index.js";
import type { HoldEntry, NodeHolds, NodeRecord, UnreadableNode } from "../protocol/index.js";
import { UsageError } from "./args.js";
import { holdLine, holdsCell } from "../format/policy.js";
import { age, bytes } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";

function nodeRows(nodes: NodeRecord[], holds: NodeHolds[]): string[][] {
  const held = new Map(holds.map((h) => [h.nodeId, h.holds]));
  return nodes.map((n) => [
    n.id,
    n.status + (n.statusReason ? ` (${n.statusReason})` : ""),
    n.last.capability,
    n.last.gpu.vendor === "none" ? "-" : `${n.last.gpu.vendor} ${bytes(n.last.gpu.vramBytes)}`,
    bytes(n.last.disk.freeBytes),
    age(n.lastHeartbeatAt, Date.now()),
    String(n.last.runningOps),
    holdsCell(held.get(n.id) ?? []),
  ]);
}

/** A node whose record does not validate: listed as such, never left out. */
function unreadableRows(nodes: UnreadableNode[]): string[][] {
  return nodes.map((n) => [n.id, `unreadable (${n.error})`, "-", "-", "-", "-", "-", ""]);
}

function nodeAction(verb: "drain" | "resume" | "approve", what: string): Subcommand {
  return {
    usage: `backplane nodes ${verb} ID${verb === "drain" ? " [--reason TEXT]" : ""} [--json]   ${what}`,
    flags: verb === "drain" ? { reason: { type: "string" } } : {},
    async run(p, [id]) {
      if (!id) throw new UsageError(`backplane nodes ${verb} needs a node ID`);
      return withSession(p, async (client) => {
        const reason = typeof p.values.reason === "string" ? p.values.reason : undefined;
        const res = await client.call(`nodes.${verb}`, {
          nodeId: id,
          actor: actor(),
          ...(reason ? { reason } : {}),
        });
        if (p.values.json) printJson(res);
        else process.stdout.write(`${res.node.id}: ${res.node.status}\n`);
        return 0;
      });
    },
  };
}

/** What a node's holds are now, one line each (or that it is not held). */
function printHolds(nodeId: string, holds: HoldEntry[]): void {
  if (holds.length === 0) process.stdout.write(`${nodeId}: not held\n`);
  for (const h of holds) process.stdout.write(`${nodeId}: ${holdLine(h)}\n`);
}

const HOLD_HELP = `

A held node is skipped by rollouts and auto-upgrade (for NAME only with --backend, else for
every backend), and a manual install, upgrade, reinstall, delete or rollback on it is refused
unless given --force. The hold is kept in the cluster and audited until 'backplane nodes unhold'.

Example:
  backplane nodes hold gpu-03 --reason "driver update"
  backplane nodes hold gpu-03 --backend llama-cpp`;

export const subcommands: Record<string, Subcommand> = {
  list: {
    usage:
      "backplane nodes list [--json]   every node with status, capability, GPU, disk, heartbeat age, holds\n\nSEEN is the age of the heartbeat time in the node record, which the leader refreshes every 30 s\nwhen nothing else changed (status changes are written at once): a live node shows 0-35 s.",
    async run(p) {
      return withSession(p, async (client) => {
        const res = await listAllNodes(client);
        if (p.values.json) return (printJson(res), 0);
        printTable(
          ["NODE", "STATUS", "CAPABILITY", "GPU", "DISK FREE", "SEEN", "OPS", "HELD"],
          [...nodeRows(res.nodes, res.holds), ...unreadableRows(res.unreadable)],
          "no nodes yet",
        );
        return 0;
      });
    },
  },
  drain: nodeAction("drain", "stop sending work to a node; queued work there fails at once"),
  resume: nodeAction("resume", "take a drained node back into service"),
  approve: nodeAction("approve", "approve a pending node (controller run with --require-approval)"),
  hold: {
    usage: `backplane nodes hold ID [--backend NAME] [--reason TEXT] [--json]   keep rollouts, auto-upgrade and unforced ops off a node${HOLD_HELP}`,
    flags: { backend: { type: "string" }, reason: { type: "string" } },
    async run(p, [id]) {
      if (!id) throw new UsageError("backplane nodes hold needs a node ID");
      const backend = typeof p.values.backend === "string" ? p.values.backend : undefined;
      const reason = typeof p.values.reason === "string" ? p.values.reason : undefined;
      return withSession(p, async (client) => {
        const res = await client.call("nodes.hold", {
          nodeId: id,
          actor: actor(),
          ...(backend ? { backend } : {}),
          ...(reason ? { reason } : {}),
        });
        if (p.values.json) printJson(res);
        else printHolds(res.nodeId, res.holds);
        return 0;
      });
    },
  },
  unhold: {
    usage:
      "backplane nodes unhold ID [--backend NAME] [--json]   release a node's hold for NAME, or all its holds",
    flags: { backend: { type: "string" } },
    async run(p, [id]) {
      if (!id) throw new UsageError("backplane nodes unhold needs a node ID");
      const backend = typeof p.values.backend === "string" ? p.values.backend : undefined;
      return withSession(p, async (client) => {
        const res = await client.call("nodes.unhold", {
          nodeId: id,
          actor: actor(),
          ...(backend ? { backend } : {}),
        });
        if (p.values.json) printJson(res);
        else printHolds(res.nodeId, res.holds);
        return 0;
      });
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return runGroup("nodes", "List nodes; drain, resume, approve, hold and unhold them.", subcommands, argv);
}
