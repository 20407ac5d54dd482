/**
 * A simulated fleet for bench/rollout, run as a child process (`fork`) so that its work is not
 * counted in the controller's figures. Speaks the agent contract on the real nats-server: an
 * inventory and a heartbeat per node, and work taken from the WORK stream (one pull consumer
 * over every node's subject) with each op moved queued → running → succeeded by compare-and-set
 * after `opMs`, the node's inventory rewritten to the new version first, as the agent does.
 *
 * argv: SERVER PREFIX NODES BACKENDS OP_MS HEARTBEAT_MS. Sends {type: "ready"} once registered;
 * on {type: "stop"} sends {type: "done", ran} and exits.
 */
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { ClusterClient } from "../../src/client/index.js";
import {
  SCHEMA_VERSION,
  WorkItem,
  decode,
  opKey,
  streamNames,
  type Heartbeat,
  type InstalledBackend,
  type OpRecord,
} from "../../src/protocol/index.js";
import { backendName, nodeId } from "./synthetic-cluster.js";

const [server, prefix, nodesArg, backendsArg, opMsArg, heartbeatMsArg] = process.argv.slice(2);
const NODES = Number(nodesArg);
const BACKENDS = Number(backendsArg);
const OP_MS = Number(opMsArg);
const HEARTBEAT_MS = Number(heartbeatMsArg);

const send = (m: unknown) => process.send?.(m);

function row(j: number, version: string, generation: string, previous: string[]): InstalledBackend {
  return {
    name: backendName(j),
    metadata: { name: backendName(j), version, installed_at: "2026-11-01T00:00:00Z" },
    isMeta: false,
    generation,
    previousGenerations: previous,
    sizeBytes: 512 * 2 ** 20,
  };
}

async function pool<T>(items: readonly T[], limit: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const client = await ClusterClient.connect({ servers: [server!], prefix: prefix!, name: "bench-fleet" });
  const inventories = new Map<string, InstalledBackend[]>();
  const writeInventory = (id: string) =>
    client.put("inventory", id, {
      v: SCHEMA_VERSION,
      nodeId: id,
      updatedAt: Date.now(),
      backends: inventories.get(id)!,
    });
  const ids = Array.from({ length: NODES }, (_, i) => nodeId(i));
  for (const id of ids) {
    inventories.set(
      id,
      Array.from({ length: BACKENDS }, (_, j) => row(j, "1.0.0", "g1", [])),
    );
  }
  await pool(ids, 256, writeInventory);

  const heartbeat = (id: string, running: number): Heartbeat => ({
    v: SCHEMA_VERSION,
    nodeId: id,
    name: id,
    capability: "default",
    gpu: { vendor: "none", vramBytes: 0 },
    disk: { freeBytes: 1e12, totalBytes: 2e12 },
    agentVersion: "bench",
    runningOps: running,
    labels: { rack: id.slice(-1) },
    sentAt: Date.now(),
  });
  const running = new Map<string, number>();
  const beat = () => {
    for (const id of ids) client.publishHeartbeat(heartbeat(id, running.get(id) ?? 0));
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_MS);

  const stream = streamNames(prefix).work;
  await client.jsm.consumers.add(stream, {
    durable_name: "bench_fleet",
    filter_subject: client.subjects.workAll(),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 120_000 * 1_000_000,
    max_deliver: -1,
    max_ack_pending: 50_000,
  });
  const messages = await (
    await client.js.consumers.get(stream, "bench_fleet")
  ).consume({
    max_messages: 1000,
  });

  let ran = 0;
  const cas = async (key: string, change: (op: OpRecord) => OpRecord | null) => {
    for (let i = 0; i < 20; i++) {
      const cur = await client.get("ops", key);
      if (!cur) return null;
      const next = change(cur.value);
      if (!next) return null;
      try {
        await client.update("ops", key, next, cur.revision);
        return next;
      } catch {
        // lost a race: read again
      }
    }
    return null;
  };
  const run = async (node: string, opId: string) => {
    const key = opKey(node, opId);
    const started = await cas(key, (op) =>
      op.state === "queued"
        ? {
            ...op,
            state: "running",
            phase: "downloading",
            attempts: op.attempts + 1,
            startedAt: Date.now(),
            updatedAt: Date.now(),
          }
        : null,
    );
    if (!started) return;
    ran++;
    running.set(node, (running.get(node) ?? 0) + 1);
    await new Promise((r) => setTimeout(r, OP_MS));
    const generation = `g-${opId}`;
    const version = started.target?.version ?? "2.0.0";
    const inv = inventories.get(node)!;
    const j = inv.findIndex((b) => b.name === started.backend);
    if (j >= 0) {
      const was = inv[j]!;
      inv[j] = row(j, version, generation, [was.generation ?? "g1", ...was.previousGenerations].slice(0, 2));
      await writeInventory(node);
    }
    running.set(node, (running.get(node) ?? 1) - 1);
    await cas(key, (op) =>
      op.state === "running"
        ? {
            ...op,
            state: "succeeded",
            phase: undefined,
            updatedAt: Date.now(),
            finishedAt: Date.now(),
            result: { version, generation, noop: false },
          }
        : null,
    );
  };
  void (async () => {
    for await (const m of messages) {
      const d = decode(WorkItem, m.data);
      if (!d.ok) {
        m.term();
        continue;
      }
      void run(d.value.nodeId, d.value.opId)
        .catch((e: unknown) => process.stderr.write(`fleet: op ${d.value.opId}: ${String(e)}\n`))
        .finally(() => m.ack());
    }
  })();

  process.on("message", (m: { type?: string }) => {
    if (m.type !== "stop") return;
    clearInterval(timer);
    void messages
      .close()
      .catch(() => {})
      .then(() => client.close())
      .finally(() => process.send?.({ type: "done", ran }, () => process.exit(0)));
  });
  send({ type: "ready" });
}

await main();
