import { listAllOps } from "../client/index.js";
import { HISTORY_REPLY_BYTES, isTerminal, type OpRecord, type ProgressEvent } from "../protocol/index.js";
import { int, list, str, UsageError } from "./args.js";
import { age, localTime } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";
import { exitCodeFor, OpLog, opLine, waitForOps } from "./wait.js";

/** One line of `ops watch --json` (NDJSON): an op record as it changed, or a progress event. */
type WatchLine = { type: "op"; op: OpRecord } | { type: "progress"; event: ProgressEvent };

function opRows(ops: OpRecord[]): string[][] {
  return ops.map((op) => [
    op.id,
    op.nodeId,
    op.kind,
    op.target && op.target.name !== op.backend ? `${op.backend} → ${op.target.name}` : op.backend,
    op.state + (op.dismissed ? " (dismissed)" : ""),
    op.phase ?? "",
    age(op.updatedAt, Date.now()),
    op.error ?? "",
  ]);
}

function opAction(verb: "cancel" | "dismiss" | "retry", what: string): Subcommand {
  return {
    usage: `backplane ops ${verb} OP_ID${verb === "retry" ? " [--wait]" : ""} [--json]   ${what}`,
    flags: verb === "retry" ? { wait: { type: "boolean" } } : {},
    async run(p, [opId]) {
      if (!opId) throw new UsageError(`backplane ops ${verb} needs an OP_ID (see 'backplane ops list')`);
      return withSession(p, async (client) => {
        const res = await client.call(`ops.${verb}`, { opId, actor: actor() });
        if (verb === "retry" && p.values.wait) {
          const done = await waitForOps(client, [{ nodeId: res.op.nodeId, opId }]);
          if (p.values.json) printJson({ ops: done });
          return exitCodeFor(done);
        }
        if (p.values.json) printJson(res);
        else process.stdout.write(opLine(res.op) + "\n");
        return 0;
      });
    },
  };
}

export const subcommands: Record<string, Subcommand> = {
  list: {
    usage:
      "backplane ops list [--all] [--node ID] [--backend NAME] [--json]   active ops (--all adds finished ones)",
    flags: { all: { type: "boolean" }, node: { type: "string" }, backend: { type: "string" } },
    async run(p) {
      return withSession(p, async (client) => {
        const node = str(p.values.node);
        const backend = str(p.values.backend);
        const res = await listAllOps(client, {
          all: !!p.values.all,
          ...(node ? { nodeId: node } : {}),
          ...(backend ? { backend } : {}),
        });
        // Oldest first, as they were submitted (ties by node), in both forms.
        res.ops.sort((a, b) => a.createdAt - b.createdAt || a.nodeId.localeCompare(b.nodeId));
        if (p.values.json) return (printJson(res), 0);
        printTable(
          ["OP", "NODE", "KIND", "BACKEND", "STATE", "PHASE", "UPDATED", "ERROR"],
          opRows(res.ops),
          "no operations",
        );
        return 0;
      });
    },
  },
  watch: {
    usage:
      "backplane ops watch [OP_ID...] [--node ID] [--json]   one line per state or phase change and progress (no TUI); with ids, exits when they finish; --json prints NDJSON\n\nExample:\n  backplane ops watch --node gpu-01 | tee rollout.log",
    flags: { node: { type: "string", multiple: true } },
    async run(p, ids) {
      const json = p.values.json === true;
      const stamp = (l: string) => process.stdout.write(`${localTime(Date.now())} ${l}\n`);
      const ndjson = (x: WatchLine) => process.stdout.write(JSON.stringify(x) + "\n");
      return withSession(p, async (client) => {
        if (ids.length > 0) {
          const ops = await Promise.all(ids.map((opId) => client.call("ops.get", { opId })));
          const targets = ops.map((r) => ({ nodeId: r.op.nodeId, opId: r.op.id }));
          if (!json) return exitCodeFor(await waitForOps(client, targets, { progress: true, out: stamp }));
          const done = await waitForOps(client, targets, { out: () => {} });
          for (const op of done) ndjson({ type: "op", op });
          return exitCodeFor(done);
        }
        const nodes = new Set(list(p.values.node));
        const wanted = (nodeId: string) => nodes.size === 0 || nodes.has(nodeId);
        const log = new OpLog();
        const seen = new Set<string>();
        client.onProgress((e) => {
          if (!wanted(e.nodeId)) return;
          const line = log.progress(e);
          if (line === undefined) return;
          if (json) ndjson({ type: "progress", event: e });
          else stamp(line);
        });
        client.watch("ops", (e) => {
          if (e.type !== "put" || !wanted(e.value.nodeId)) return;
          const first = !seen.has(e.key);
          seen.add(e.key);
          const line = log.op(e.value);
          if (line === undefined || (first && isTerminal(e.value.state))) return; // history, not news
          if (json) ndjson({ type: "op", op: e.value });
          else stamp(line);
        });
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        return 0;
      });
    },
  },
  cancel: opAction("cancel", "cancel an op (persisted first, then signalled to the agent)"),
  dismiss: opAction("dismiss", "hide a finished op from the active list (kept in history)"),
  retry: opAction("retry", "re-queue a failed op"),
  history: {
    usage:
      "backplane ops history [--limit N] [--node ID] [--backend NAME] [--json]   the audit trail, newest first",
    flags: { limit: { type: "string" }, node: { type: "string" }, backend: { type: "string" } },
    async run(p) {
      const limit = int(p.values.limit, "limit", 1) ?? 50;
      return withSession(p, async (client) => {
        const node = str(p.values.node);
        const backend = str(p.values.backend);
        const res = await client.call("ops.history", {
          limit,
          ...(node ? { nodeId: node } : {}),
          ...(backend ? { backend } : {}),
        });
        if (p.values.json) return (printJson(res), 0);
        printTable(
          ["WHEN", "EVENT", "NODE", "BACKEND", "OP", "BY", "DETAIL"],
          res.events.map((e) => [
            localTime(e.at),
            e.kind,
            e.nodeId ?? "",
            e.backend ?? "",
            e.opId ?? "",
            e.actor,
            e.message ?? e.op?.state ?? "",
          ]),
          "no history yet",
        );
        if (res.truncated) {
          process.stderr.write(
            `the newest ${res.events.length} of the ${limit} asked for: a reply holds at most ${HISTORY_REPLY_BYTES / 1024} KiB; narrow with --node or --backend\n`,
          );
        }
        return 0;
      });
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return runGroup(
    "ops",
    "List, watch, cancel, dismiss and retry operations; read the history.",
    subcommands,
    argv,
  );
}
