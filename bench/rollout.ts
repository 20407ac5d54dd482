/**
 * bench/rollout: a rollout of backend-00 over 5,000 simulated nodes (30 backends installed each)
 * in 4 waves (1,10%,50%,100%; at most 10% at once; 1 s soak) against a real nats-server and an
 * in-process controller, the leader. The fleet (heartbeats, inventories, a work consumer that
 * runs each op for --op-ms) is a child process (bench/lib/sim-fleet.ts), so its work is not
 * counted here. Prints
 *   1. the leader's reconcile pass over the rollout (RolloutDuty.pass: decide, admit, cancel,
 *      compare-and-set writes of rows and head): p50/p95/max ms, while the rollout runs, with the
 *      controller's event-loop delay and whether it kept its lease;
 *   2. the latency of other API requests meanwhile, from another process (bench/lib/api-probe.ts:
 *      nodes.list, ops.list for a node, rollouts.list, rollouts.get of this rollout — what
 *      `rollouts watch` polls): p50/p95/max;
 *   3. the ops and rollout_nodes buckets' size at the end (records, bytes).
 *
 * Run: npx tsx bench/rollout.ts [--nodes 5000] [--backends 30] [--waves 1,10%,50%,100%]
 *        [--max-parallel 10%] [--soak 1s] [--op-ms 500] [--interval 1000]
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ClusterClient } from "../src/client/index.js";
import { Controller } from "../src/controller/controller.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { waitFor } from "../src/demo/processes.js";
import { silentTelemetry } from "../src/lib/telemetry.js";
import { bucketNames, NODES_PAGE, ROLLOUT_NODES_PAGE, rolloutEnded } from "../src/protocol/index.js";
import { lineWriter, pct } from "./lib/report.js";
import { backendName, nodeId } from "./lib/synthetic-cluster.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "5000" },
    backends: { type: "string", default: "30" },
    ops: { type: "string" }, // accepted for `make bench-scale`'s common flags; unused
    waves: { type: "string", default: "1,10%,50%,100%" },
    "max-parallel": { type: "string", default: "10%" },
    soak: { type: "string", default: "1s" },
    "op-ms": { type: "string", default: "500" },
    /** The leader's pause between passes (the controller's default, --rollout-interval). */
    interval: { type: "string", default: "1000" },
  },
});
const NODES = Number(values.nodes);
const BACKENDS = Number(values.backends);
const OP_MS = Number(values["op-ms"]);
const INTERVAL_MS = Number(values.interval);
const HEARTBEAT_MS = 5_000;
const PROBE_GAP_MS = 250;
const BACKEND = backendName(0);

const line = lineWriter(44);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const dist = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? "no samples"
    : `p50 ${ms(pct(s, 50))}  p95 ${ms(pct(s, 95))}  max ${ms(s.at(-1)!)}  (${s.length} samples)`;
};
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

interface ChildMessage {
  type?: string;
  ran?: number;
  latency?: Record<string, number[]>;
  failures?: Record<string, string[]>;
}

/** A helper process from bench/lib (run through tsx, as this one is) and its next message of a type. */
function child(file: string, args: string[]) {
  const proc = fork(new URL(`./lib/${file}`, import.meta.url), args, {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = (type: string) =>
    new Promise<ChildMessage>((resolve, reject) => {
      const on = (m: ChildMessage) => {
        if (m.type !== type) return;
        proc.off("message", on);
        proc.off("exit", exit);
        resolve(m);
      };
      const exit = (code: number | null) => reject(new Error(`bench/lib/${file} exited (${code})`));
      proc.on("message", on);
      proc.once("exit", exit);
    });
  return { proc, next };
}

async function main(): Promise<void> {
  const storeDir = await mkdtemp(join(tmpdir(), "bp-bench-js-"));
  const nats = await NatsServer.start({
    storeDir,
    extraConfig: `jetstream { store_dir: "${storeDir}", max_memory_store: 256MB, max_file_store: 8GB }`,
  });
  const work = await mkdtemp(join(tmpdir(), "bp-bench-"));
  const prefix = "bench";
  let controller: Controller | undefined;
  let ctlClient: ClusterClient | undefined;
  let client: ClusterClient | undefined;
  const children: ChildProcess[] = [];
  try {
    const gallery = join(work, "index.yaml");
    // Versions, not digests: nothing here needs a registry (the fleet installs nothing).
    await writeFile(
      gallery,
      Array.from(
        { length: BACKENDS },
        (_, j) =>
          `- name: ${backendName(j)}\n  uri: 127.0.0.1:9/bench/${backendName(j)}:v2\n  version: "2.0.0"\n`,
      ).join(""),
    );
    client = await ClusterClient.connect({ servers: [nats.url], prefix, apiTimeoutMs: 120_000 });
    ctlClient = await ClusterClient.connect({ servers: [nats.url], prefix });
    controller = await Controller.start({
      client: ctlClient,
      id: "bench-ctl",
      galleries: [{ name: "bench", url: gallery }],
      telemetry: silentTelemetry,
      // No upgrade checks during the run: the figures are the rollout's.
      timings: {
        checkDebounceMs: 60 * 60_000,
        upgradeCheckIntervalMs: 24 * 3600_000,
        rolloutIntervalMs: INTERVAL_MS,
      },
    });
    await waitFor("leadership", () => controller!.isLeader(), 60_000);

    process.stdout.write(`registering ${NODES} simulated nodes × ${BACKENDS} backends... `);
    const fleet = child("sim-fleet.ts", [
      nats.url,
      prefix,
      String(NODES),
      String(BACKENDS),
      String(OP_MS),
      String(HEARTBEAT_MS),
    ]);
    children.push(fleet.proc);
    await fleet.next("ready");
    const view = controller.view;
    await waitFor(
      "every node healthy with its inventory, in the leader's view",
      () => {
        const nodes = [...view.nodeRecords().values()];
        return (
          nodes.length === NODES &&
          nodes.every((n) => n.status === "healthy") &&
          view.inventories.size === NODES
        );
      },
      120_000,
      100,
    );
    process.stdout.write("done\n\n");

    // Time every pass of the leader's rollout duty (the Periodic calls `pass` through the instance).
    const duty = controller.rolloutDuty;
    const pass = duty.pass.bind(duty);
    const passes: Array<{ at: number; ms: number }> = [];
    duty.pass = async () => {
      const t0 = performance.now();
      try {
        await pass();
      } finally {
        passes.push({ at: t0, ms: performance.now() - t0 });
      }
    };

    // Other API requests while the rollout runs, from another process (bench/lib/api-probe.ts).
    const prober = child("api-probe.ts", [nats.url, prefix, nodeId(NODES - 1), String(PROBE_GAP_MS)]);
    children.push(prober.proc);
    await prober.next("ready");

    console.log(
      `rollout of ${BACKEND} over ${NODES} nodes: waves ${values.waves}, max ${values["max-parallel"]} at once, soak ${values.soak}, ops take ${OP_MS} ms, leader pass every ${INTERVAL_MS} ms`,
    );
    // The controller's event loop (this process), and whether it kept the lease all along.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let leaderChanges = 0;
    let leading = controller.isLeader();
    const leadership = setInterval(() => {
      if (controller!.isLeader() === leading) return;
      leading = !leading;
      leaderChanges++;
      console.log(`  (the controller ${leading ? "leads again" : "stepped down"})`);
    }, 50);

    const t0 = performance.now();
    const { rollout } = await client.call(
      "rollouts.start",
      {
        backend: BACKEND,
        waves: values.waves,
        maxParallel: values["max-parallel"],
        soak: values.soak,
        actor: "bench",
      },
      120_000,
    );
    const tStart = performance.now() - t0;
    prober.proc.send({ type: "start", rolloutId: rollout.id });
    // Until it ends, or pauses (the failure budget: nothing moves again without an operator).
    let shown = "";
    const ended = await waitFor(
      "the rollout to end",
      async () => {
        const head = (await client!.get("rollouts", rollout.id))?.value;
        if (!head) return null;
        const c = head.counts;
        const now = `${head.state} wave ${head.wave + 1}/${head.waves.length}: ${c?.done ?? 0} done, ${c?.running ?? 0} running, ${c?.failed ?? 0} failed`;
        if (now !== shown)
          console.log(`  +${((performance.now() - t0) / 1000).toFixed(1)} s ${(shown = now)}`);
        return rolloutEnded(head.state) || head.state === "paused" ? head : null;
      },
      30 * 60_000,
      100,
    );
    const tAll = performance.now() - t0;
    prober.proc.send({ type: "stop" });
    const { latency = {}, failures = {} } = await prober.next("latency");
    loop.disable();
    clearInterval(leadership);

    const during = passes.filter((p) => p.at >= t0 && p.at <= t0 + tAll).map((p) => p.ms);
    const ops = bucketNames(prefix);
    const info = async (bucket: string) => (await client!.jsm.streams.info(`KV_${bucket}`)).state;
    const opsState = await info(ops.ops);
    const rowsState = await info(ops.rollout_nodes);
    const opKeys = (await client.keys("ops")).length;

    console.log("");
    line("  rollouts.start (head + rows written)", ms(tStart));
    line("  ended", `${ended.state} (${ended.reason ?? ""}) after ${(tAll / 1000).toFixed(1)} s`);
    if (ended.state !== "succeeded") process.exitCode = 1;
    const waves = ended.actions.filter((a) => a.what === "gate").map((a) => a.at - rollout.createdAt);
    line("  gates passed at", waves.map((x) => `${(x / 1000).toFixed(1)} s`).join(", "));
    console.log("\nleader's reconcile pass over the rollout, while it ran:");
    line("  RolloutDuty.pass (wall time)", dist(during));
    const lag = (q: number) => ms(loop.percentile(q) / 1e6);
    line(
      "  controller event loop delay",
      `p50 ${lag(50)}  p95 ${lag(95)}  p99 ${lag(99)}  max ${ms(loop.max / 1e6)}`,
    );
    line("  lease lost and regained", `${leaderChanges} changes`);
    console.log(
      `\nother API requests while it ran (another process, one at a time, ${PROBE_GAP_MS} ms apart):`,
    );
    for (const name of ["nodes.list", "ops.list (one node)", "rollouts.list", "rollouts.get"]) {
      // A call is one page: the first ROLLOUT_NODES_PAGE / NODES_PAGE rows of a paged list.
      const rows = { "rollouts.get": ROLLOUT_NODES_PAGE.default, "nodes.list": NODES_PAGE.default }[name];
      line(`  ${name}${rows ? ` (a page, ${Math.min(NODES, rows)} rows)` : ""}`, dist(latency[name] ?? []));
      const f = failures[name];
      if (f?.length) line("", `${f.length} failed, e.g. ${f[0]!.slice(0, 160)}`);
    }
    console.log("\nbuckets at the end:");
    line("  ops", `${opKeys} keys, ${opsState.messages} messages, ${mb(opsState.bytes)}`);
    line("  rollout_nodes", `${rowsState.messages} messages, ${mb(rowsState.bytes)}`);
    line("  ops bytes per record", `${(opsState.bytes / Math.max(1, opsState.messages)).toFixed(0)} B`);

    fleet.proc.send({ type: "stop" });
    const done = await fleet.next("done");
    line("  ops run by the simulated fleet", String(done.ran ?? 0));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await controller?.stop();
    await ctlClient?.close();
    await client?.close();
    await nats.dispose();
    await rm(work, { recursive: true, force: true });
    await rm(storeDir, { recursive: true, force: true });
  }
}

await main();
