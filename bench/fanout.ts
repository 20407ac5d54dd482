/**
 * bench/fanout: 500 simulated nodes (lightweight agents in this process: one heartbeat and an
 * inventory of 30 backends each) against a real nats-server, a real docker-registry and an
 * in-process controller. Prints
 *   1. the time from "upgrade backend-00 everywhere" to 500 op records written and 500 work
 *      messages published (target: under 1 s);
 *   2. the time of an upgrade check over 500 nodes × 30 backends, with the number of registry
 *      HEAD requests (counted by a loopback proxy) next to the number of distinct URIs.
 *
 * Run: npx tsx bench/fanout.ts [--nodes 500] [--backends 30]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ClusterClient } from "../src/client/index.js";
import { silentTelemetry } from "../src/lib/telemetry.js";
import { Controller } from "../src/controller/controller.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { waitFor } from "../src/demo/processes.js";
import { backendName } from "./lib/synthetic-cluster.js";
import { registerFleet, startUpgradeFixture, type UpgradeFixture } from "./lib/upgrade-fixture.js";
import { streamNames } from "../src/protocol/index.js";

const { values } = parseArgs({
  options: { nodes: { type: "string", default: "500" }, backends: { type: "string", default: "30" } },
});
const NODES = Number(values.nodes);
const BACKENDS = Number(values.backends);
/** Polls every 5 ms: the figures are timed through it. */
const until = <T>(what: string, check: () => Promise<T | null | false>) => waitFor(what, check, 60_000, 5);

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

async function main(): Promise<void> {
  const storeDir = await mkdtemp(join(tmpdir(), "bp-bench-js-"));
  const nats = await NatsServer.start({
    storeDir,
    extraConfig: `jetstream { store_dir: "${storeDir}", max_memory_store: 256MB, max_file_store: 8GB }`,
  });
  let fx: UpgradeFixture | undefined;
  let controller: Controller | undefined;
  let ctlClient: ClusterClient | undefined;
  let client: ClusterClient | undefined;
  try {
    process.stdout.write(`pushing ${BACKENDS} images... `);
    fx = await startUpgradeFixture(BACKENDS);
    const gallery = fx.gallery;
    process.stdout.write("done\n");

    client = await ClusterClient.connect({ servers: [nats.url], prefix: "bench", apiTimeoutMs: 120_000 });
    ctlClient = await ClusterClient.connect({ servers: [nats.url], prefix: "bench" });
    controller = await Controller.start({
      client: ctlClient,
      id: "bench-ctl",
      galleries: [{ name: "bench", url: gallery }],
      telemetry: silentTelemetry,
      timings: { checkDebounceMs: 60 * 60_000 },
    });
    await until("leadership", async () => controller!.isLeader());

    // Lightweight agents: an inventory and a heartbeat each.
    process.stdout.write(`registering ${NODES} simulated nodes × ${BACKENDS} backends... `);
    await registerFleet(client, fx, NODES, BACKENDS, { heartbeat: true });
    await until(
      "node records",
      async () => controller!.view.nodes.size === NODES && controller!.view.records.inventory.size === NODES,
    );
    // The leader's own check on taking over overlaps the registration; let it finish unmeasured.
    await client.call("upgrades.check", { actor: "bench-warmup" }, 120_000);
    process.stdout.write("done\n\n");

    // 1. Fan-out.
    const t0 = performance.now();
    const reply = await client.call("ops.upgrade", { backend: backendName(0), actor: "bench" }, 120_000);
    const tReply = performance.now() - t0;
    const stream = streamNames("bench").work;
    await until("500 records and messages", async () => {
      const keys = await client!.keys("ops");
      const info = await client!.jsm.streams.info(stream);
      return keys.length === NODES && info.state.messages === NODES;
    });
    const tAll = performance.now() - t0;
    console.log(`fan-out: "upgrade ${backendName(0)} everywhere" on ${NODES} nodes`);
    console.log(`  admitted ${reply.admitted.length}, refused ${reply.refused.length}`);
    console.log(
      `  API reply (all ${NODES} op records written, ${NODES} work messages published): ${fmt(tReply)}`,
    );
    console.log(`  confirmed in KV and WORK stream by an observer:                  ${fmt(tAll)}`);
    console.log(`  target < 1000 ms: ${tReply < 1000 ? "met" : "MISSED"}\n`);

    // 2. Upgrade check.
    for (const round of [1, 2]) {
      const heads0 = fx.heads();
      const c0 = performance.now();
      const r = await client.call("upgrades.check", { actor: "bench" }, 120_000);
      const tCheck = performance.now() - c0;
      const flagged = r.upgrades.reduce((n, u) => n + u.upgradable, 0);
      console.log(
        `upgrade check #${round}: ${NODES} nodes × ${BACKENDS} backends = ${NODES * BACKENDS} installed rows`,
      );
      console.log(`  time: ${fmt(tCheck)}`);
      console.log(
        `  HEAD requests: ${fx.heads() - heads0} seen by the registry proxy, ${r.headRequests} reported; distinct URIs: ${BACKENDS}`,
      );
      console.log(`  backends with upgrades: ${r.upgrades.length} (${flagged} node rows flagged)`);
      console.log(`  target ≤ 1000 ms: ${tCheck <= 1000 ? "met" : "MISSED"}\n`);
    }
  } finally {
    await controller?.stop();
    await ctlClient?.close();
    await client?.close();
    await fx?.dispose();
    await nats.dispose();
    await rm(storeDir, { recursive: true, force: true });
  }
}

await main();
