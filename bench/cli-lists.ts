/**
 * bench/cli-lists: `backplane nodes list --json` and `backplane ops list --all --json` against a
 * cluster of --nodes nodes (each with an inventory of --backends rows) and --ops ops, through a
 * nats-server with its default 1 MB max_payload, so every reply must be paged. Prints each
 * command's wall time (the CLI process from spawn to exit, 3 runs after one unmeasured list from
 * this process warmed the controller) next to the target of issue 15 (< 1.5 s), the pages it
 * took, and the JSON bytes per row.
 *
 * The controller is a replica that does not lead (the lease is held elsewhere): it serves the API
 * as any replica does, and no leader duty over records nobody heartbeats for runs meanwhile.
 *
 * Run: npx tsx bench/cli-lists.ts [--nodes 500] [--backends 30] [--ops 100]   (needs dist: make build)
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ClusterClient, listAllNodes, listAllOps } from "../src/client/index.js";
import { Controller } from "../src/controller/controller.js";
import { mapLimit } from "../src/controller/map-limit.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { silentTelemetry } from "../src/lib/telemetry.js";
import { CONTROLLER_LEASE_KEY, NODES_PAGE, OPS_PAGE, opKey } from "../src/protocol/index.js";
import { BACKENDS, inventory, nodeId, nodeRecord, NODES, op, OPS } from "./lib/synthetic-cluster.js";
import { lineWriter } from "./lib/report.js";

const TARGET_MS = 1_500;
const RUNS = 3;
const PREFIX = "bench";
const BIN = fileURLToPath(new URL("../bin/backplane.js", import.meta.url));
const line = lineWriter(44);

/** Runs the CLI once; its stdout and how long the process took, spawn to exit. */
function cli(server: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, "--server", server, "--prefix", PREFIX], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`backplane ${args.join(" ")} exited ${code}: ${Buffer.concat(err)}`));
      else resolve({ ms, stdout: Buffer.concat(out).toString() });
    });
  });
}

async function measure(
  server: string,
  args: string[],
  rowsOf: (doc: Record<string, unknown>) => unknown[],
  want: number,
  perPage: number,
): Promise<void> {
  const times: number[] = [];
  let rows: unknown[] = [];
  let bytes = 0;
  for (let r = 0; r < RUNS; r++) {
    const { ms, stdout } = await cli(server, args);
    times.push(ms);
    rows = rowsOf(JSON.parse(stdout) as Record<string, unknown>);
    bytes = Buffer.byteLength(stdout);
  }
  if (rows.length !== want) throw new Error(`backplane ${args.join(" ")}: ${rows.length} rows, want ${want}`);
  const rowBytes =
    rows.reduce<number>((n, row) => n + Buffer.byteLength(JSON.stringify(row)), 0) / rows.length;
  const best = Math.min(...times);
  const worst = Math.max(...times);
  console.log(`backplane ${args.join(" ")}`);
  line("  rows in one JSON document", `${rows.length} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
  line("  JSON bytes per row (mean)", `${rowBytes.toFixed(0)}`);
  line("  pages (default limit)", `${Math.ceil(want / perPage)} of up to ${perPage} rows`);
  line(
    `  wall, ${RUNS} runs (best / worst)`,
    `${times.map((t) => t.toFixed(0)).join(", ")} ms (${best.toFixed(0)} / ${worst.toFixed(0)})`,
  );
  line(`  target < ${TARGET_MS} ms`, worst < TARGET_MS ? "met" : best < TARGET_MS ? "met at best" : "MISSED");
  console.log("");
}

async function main(): Promise<void> {
  const nats = await NatsServer.start({ maxPayload: "1MB" });
  let client: ClusterClient | undefined;
  let ctlClient: ClusterClient | undefined;
  let controller: Controller | undefined;
  try {
    // The first to connect creates the buckets: a lease TTL long enough for the whole bench.
    client = await ClusterClient.connect({ servers: [nats.url], prefix: PREFIX, leaseTtlMs: 30 * 60_000 });
    const now = Date.now();
    await client.create("leases", CONTROLLER_LEASE_KEY, {
      v: 1,
      holder: "elsewhere",
      since: now,
      renewedAt: now,
    });
    process.stdout.write(`writing ${NODES} nodes × ${BACKENDS} inventory rows and ${OPS} ops... `);
    const c = client;
    await mapLimit(
      Array.from({ length: NODES }, (_, i) => i),
      256,
      async (i) => {
        await c.put("nodes", nodeId(i), nodeRecord(i, now));
        await c.put("inventory", nodeId(i), inventory(i, now));
      },
    );
    await mapLimit(
      Array.from({ length: OPS }, (_, k) => k),
      256,
      async (k) => {
        const o = op(k, now);
        await c.put("ops", opKey(o.nodeId, o.id), o);
      },
    );
    process.stdout.write("done\n");
    ctlClient = await ClusterClient.connect({ servers: [nats.url], prefix: PREFIX });
    controller = await Controller.start({
      client: ctlClient,
      id: "bench-ctl",
      galleries: [],
      telemetry: silentTelemetry,
    });
    console.log(`nats-server max_payload ${client.nc.info?.max_payload} bytes\n`);
    // A controller serving a fleet has answered lists before; the CLI process is new every time.
    await listAllNodes(client);
    await listAllOps(client, { all: true });

    await measure(
      nats.url,
      ["nodes", "list", "--json"],
      (d) => d.nodes as unknown[],
      NODES,
      NODES_PAGE.default,
    );
    await measure(
      nats.url,
      ["ops", "list", "--all", "--json"],
      (d) => d.ops as unknown[],
      OPS,
      OPS_PAGE.default,
    );
  } finally {
    await controller?.stop();
    await ctlClient?.close();
    await client?.close();
    await nats.dispose();
  }
}

await main();
