import type { NodeRecord, UnreadableNode } from "../protocol/index.js";
import { UsageError } from "./args.js";
import { age, bytes } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";

function nodeRows(nodes: NodeRecord[]): string[][] {
  return nodes.map((n) => [
    n.id,
    n.status + (n.statusReason ? ` (${n.statusReason})` : ""),
    n.last.capability,
    n.last.gpu.vendor === "none" ? "-" : `${n.last.gpu.vendor} ${bytes(n.last.gpu.vramBytes)}`,
    bytes(n.last.disk.freeBytes),
    age(n.lastHeartbeatAt, Date.now()),
    String(n.last.runningOps),
  ]);
}

/** A node whose record does not validate: listed as such, never left out. */
function unreadableRows(nodes: UnreadableNode[]): string[][] {
  return nodes.map((n) => [n.id, `unreadable (${n.error})`, "-", "-", "-", "-", "-"]);
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

export const subcommands: Record<string, Subcommand> = {
  list: {
    usage: "backplane nodes list [--json]   every node with status, capability, GPU, disk, heartbeat age",
    async run(p) {
      return withSession(p, async (client) => {
        const res = await client.call("nodes.list", {});
        if (p.values.json) return (printJson(res), 0);
        printTable(
          ["NODE", "STATUS", "CAPABILITY", "GPU", "DISK FREE", "SEEN", "OPS"],
          [...nodeRows(res.nodes), ...unreadableRows(res.unreadable)],
          "no nodes yet",
        );
        return 0;
      });
    },
  },
  drain: nodeAction("drain", "stop sending work to a node; queued work there fails at once"),
  resume: nodeAction("resume", "take a drained node back into service"),
  approve: nodeAction("approve", "approve a pending node (controller run with --require-approval)"),
};

export function run(argv: string[]): Promise<number> {
  return runGroup("nodes", "List nodes; drain, resume and approve them.", subcommands, argv);
}
