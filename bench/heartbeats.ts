/**
 * bench/heartbeats: what a fleet's heartbeats cost a controller. A real nats-server, the registry
 * and gallery of bench/fanout (bench/lib/upgrade-fixture.ts), and a spawned controller
 * (`node bin/backplane.js controller`, so its figures are its own process's). N simulated nodes
 * each write an inventory of --backends rows, then heartbeat every --interval-ms, spread evenly
 * over the interval, from this process. Prints, each next to its target:
 *   - the controller's RSS once every node is registered, and after one upgrade check;
 *   - its CPU (% of one core, from /proc/<pid>/stat) over --window-s seconds of heartbeats only
 *     (60 s by default: two cycles of the 30 s record refresh, whose writes come in waves);
 *   - the KV writes/s to the `nodes` bucket meanwhile (every one is fanned out to every watcher);
 *   - CPU µs per heartbeat (everything the controller did in the window, divided by heartbeats,
 *     and the same above its CPU with no nodes, measured for 10 s before the fleet registers).
 *
 * Run: npx tsx bench/heartbeats.ts [--nodes 500] [--backends 30] [--interval-ms 5000]
 *        [--window-s 60] [--warmup-s 10] [--bin bin/backplane.js] [--node-args="..."]
 *        [--heap-snapshots DIR]
 * `--bin` runs another build's controller (e.g. one of main, to compare before/after);
 * `--node-args` are given to its node (e.g. --node-args="--trace-gc", with `=`); `--heap-snapshots`
 * writes the controller's heap to DIR after start-up and after the check (SIGUSR2, once its
 * RSS has been read), for bench/heap-summary.ts.
 */
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ClusterClient } from "../src/client/index.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { waitFor } from "../src/demo/processes.js";
import { heartbeatWrite, applyHeartbeat, DEFAULT_HEALTH_RULES } from "../src/controller/decide/health.js";
import {
  bucketNames,
  CONTROLLER_LEASE_KEY,
  decode,
  encode,
  Heartbeat,
  NodeRecord,
} from "../src/protocol/index.js";
import { applyBatch, createDashStore } from "../src/store/index.js";
import type { FeedEvent } from "../src/store/cluster-feed.js";
import { Coalescer } from "../src/store/coalescer.js";
import { lineWriter } from "./lib/report.js";
import { nodeId } from "./lib/synthetic-cluster.js";
import {
  registerFleet,
  simHeartbeat,
  startUpgradeFixture,
  type UpgradeFixture,
} from "./lib/upgrade-fixture.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "500" },
    backends: { type: "string", default: "30" },
    ops: { type: "string" }, // accepted for `make bench-scale`'s common flags; unused
    "interval-ms": { type: "string", default: "5000" },
    "window-s": { type: "string", default: "60" },
    "warmup-s": { type: "string", default: "10" },
    bin: { type: "string", default: fileURLToPath(new URL("../bin/backplane.js", import.meta.url)) },
    "node-args": { type: "string", default: "" },
    "heap-snapshots": { type: "string" },
  },
});
const NODES = Number(values.nodes);
const BACKENDS = Number(values.backends);
const INTERVAL_MS = Number(values["interval-ms"]);
const WINDOW_MS = Number(values["window-s"]) * 1000;
const WARMUP_MS = Number(values["warmup-s"]) * 1000;
const PREFIX = "bench";
const BASELINE_MS = 10_000;
const RSS_TARGET_MB = 400;
const CPU_TARGET_PCT = 15;

const line = lineWriter(46);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of a process, in ms (fields 14 and 15 of /proc/<pid>/stat, after the `(comm)`). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
async function rss(pid: number): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { now: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** With --heap-snapshots: the controller writes its heap to that directory; waits until it has. */
async function heapSnapshot(pid: number): Promise<void> {
  const dir = values["heap-snapshots"];
  if (!dir) return;
  const list = async () => (await readdir(dir)).filter((f) => f.endsWith(".heapsnapshot"));
  const before = new Set(await list());
  process.kill(pid, "SIGUSR2");
  const file = await waitFor(
    "the heap snapshot",
    async () => (await list()).find((f) => !before.has(f)),
    60_000,
    200,
  );
  // Written in place: complete once it ends with the closing brace and stops growing.
  let last = -1;
  await waitFor(
    "the heap snapshot to be complete",
    async () => {
      const { size } = await stat(join(dir, file));
      const fh = await open(join(dir, file));
      const tail = Buffer.alloc(1);
      await fh.read(tail, 0, 1, Math.max(0, size - 1)).finally(() => fh.close());
      const done = size === last && tail.toString() === "}";
      last = size;
      return done;
    },
    300_000,
    1_000,
  );
  console.log(`heap snapshot: ${join(dir, file)}`);
}

const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

/** µs per call of `f` over `n` calls, after a warm-up. */
function usPer(n: number, f: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(n, 2_000); i++) f(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f(i);
  return ((performance.now() - t0) * 1000) / n;
}

/**
 * What one heartbeat costs the code that handles it, in this process: the controller's decode
 * and write decision, the decode every watcher of `nodes` pays per record write, and the
 * dashboard's feed (coalescer, then one store batch per second over the whole fleet).
 */
function perHeartbeatCosts(): void {
  const now = Date.now();
  const bytes = encode(simHeartbeat(1, now));
  const hb = simHeartbeat(1, now);
  const rec = applyHeartbeat(undefined, hb, now, DEFAULT_HEALTH_RULES);
  const recBytes = encode(rec);
  console.log("\nper heartbeat, the same code in this process:");
  line(
    "  decode + validate (zod) a heartbeat",
    `${usPer(50_000, () => decode(Heartbeat, bytes)).toFixed(1)} µs`,
  );
  line(
    "  heartbeatWrite: nothing to write",
    `${usPer(200_000, (i) => heartbeatWrite(rec, { ...hb, sentAt: now + i }, now + 1, DEFAULT_HEALTH_RULES)).toFixed(2)} µs`,
  );
  line(
    "  decode a node record (per watcher and write)",
    `${usPer(50_000, () => decode(NodeRecord, recBytes)).toFixed(1)} µs`,
  );
  // The dashboard: a second's heartbeats (N / interval) pushed, then applied as one batch.
  const store = createDashStore();
  const beats = (at: number): FeedEvent[] =>
    Array.from({ length: NODES }, (_, i) => ({
      kind: "heartbeat",
      key: nodeId(i),
      value: simHeartbeat(i, at),
    }));
  store.setState(applyBatch(store.getState(), beats(now), NODES, now));
  const perSecond = Math.max(1, Math.round((NODES * 1000) / INTERVAL_MS));
  let batch: FeedEvent[] = [];
  const co = new Coalescer<FeedEvent>((b) => (batch = b), { intervalMs: 1_000 });
  const events = beats(now + 1).slice(0, perSecond);
  const rounds = 20;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const e of events) co.push(e);
    co.flush();
    store.setState(applyBatch(store.getState(), batch, batch.length, now + r));
  }
  const us = ((performance.now() - t0) * 1000) / (rounds * perSecond);
  line(
    "  dashboard feed: coalesce + store batch",
    `${us.toFixed(1)} µs (batches of ${perSecond}, ${NODES} nodes held)`,
  );
}

/**
 * Every node heartbeats once per interval, node i at offset i/N of it: each tick publishes the
 * heartbeats that fell due since the last one, so the rate is even (N per interval).
 */
function heartbeatLoop(client: ClusterClient): { stop(): void; sent(): number } {
  const t0 = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((Date.now() - t0) * NODES) / INTERVAL_MS);
    const now = Date.now();
    for (; sent < due; sent++) {
      const i = sent % NODES;
      client.publish(client.subjects.heartbeat(nodeId(i)), simHeartbeat(i, now));
    }
  }, 20);
  return { stop: () => clearInterval(timer), sent: () => sent };
}

async function main(): Promise<void> {
  const storeDir = await mkdtemp(join(tmpdir(), "bp-bench-js-"));
  const nats = await NatsServer.start({
    storeDir,
    extraConfig: `jetstream { store_dir: "${storeDir}", max_memory_store: 256MB, max_file_store: 8GB }`,
  });
  const work = await mkdtemp(join(tmpdir(), "bp-bench-hb-"));
  let fx: UpgradeFixture | undefined;
  let client: ClusterClient | undefined;
  let beats: ReturnType<typeof heartbeatLoop> | undefined;
  let ctl: ReturnType<typeof spawn> | undefined;
  const logPath = join(work, "controller.log");
  try {
    process.stdout.write(`pushing ${BACKENDS} images... `);
    fx = await startUpgradeFixture(BACKENDS);
    process.stdout.write("done\n");
    client = await ClusterClient.connect({ servers: [nats.url], prefix: PREFIX, apiTimeoutMs: 120_000 });

    const log = createWriteStream(logPath);
    ctl = spawn(
      process.execPath,
      [
        ...values["node-args"].split(" ").filter(Boolean),
        ...(values["heap-snapshots"] ? ["--heapsnapshot-signal=SIGUSR2"] : []),
        values.bin,
        "controller",
        "--server",
        nats.url,
        "--prefix",
        PREFIX,
        "--gallery",
        fx.gallery,
        "--gallery-cache",
        join(work, "gallery-cache"),
        "--check-debounce",
        "1h",
        "--check-interval",
        "24h",
        "--log-level",
        "warn",
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        ...(values["heap-snapshots"] ? { cwd: values["heap-snapshots"] } : {}),
      },
    );
    ctl.stdout!.pipe(log);
    ctl.stderr!.pipe(log);
    const pid = ctl.pid!;
    const exited = new Promise<never>((_, reject) =>
      ctl!.once("exit", (code) => reject(new Error(`the controller exited (${code}); see ${logPath}`))),
    );
    exited.catch(() => {});
    const guard = <T>(p: Promise<T>) => Promise.race([p, exited]);
    await guard(
      waitFor("the controller to lead", () => client!.get("leases", CONTROLLER_LEASE_KEY), 60_000, 100),
    );
    line("controller", `${values.bin} (pid ${pid})`);
    // Its own cost with no nodes (lease renewals, timers): what heartbeats add is on top of it.
    const b0 = await cpuMs(pid);
    const bt0 = performance.now();
    await guard(new Promise((r) => setTimeout(r, BASELINE_MS)));
    const baselinePct = (((await cpuMs(pid)) - b0) / (performance.now() - bt0)) * 100;

    process.stdout.write(`registering ${NODES} simulated nodes × ${BACKENDS} backends... `);
    await registerFleet(client, fx, NODES, BACKENDS, { heartbeat: false });
    beats = heartbeatLoop(client);
    const nodesStream = `KV_${bucketNames(PREFIX).nodes}`;
    const nodesState = async () => (await client!.jsm.streams.info(nodesStream)).state;
    await guard(
      waitFor(
        "a record for every node",
        async () => ((await nodesState()).num_subjects ?? 0) >= NODES,
        300_000,
        500,
      ),
    );
    process.stdout.write("done\n");
    // Past the registration burst (first records, the inventories' mirror), into the steady state.
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const started = await rss(pid);
    await heapSnapshot(pid);

    const c0 = await cpuMs(pid);
    const s0 = (await nodesState()).last_seq;
    const h0 = beats.sent();
    const t0 = performance.now();
    await guard(new Promise((r) => setTimeout(r, WINDOW_MS)));
    const cpu = (await cpuMs(pid)) - c0;
    const writes = (await nodesState()).last_seq - s0;
    const heard = beats.sent() - h0;
    const elapsed = performance.now() - t0;

    const r0 = performance.now();
    const check = await guard(client.call("upgrades.check", { actor: "bench" }, 120_000));
    const tCheck = performance.now() - r0;
    const checked = await rss(pid);
    await heapSnapshot(pid);

    const cpuPct = (cpu / elapsed) * 100;
    const perSec = (n: number) => (n * 1000) / elapsed;
    console.log(
      `\n${NODES} nodes × ${BACKENDS} backends, a heartbeat every ${INTERVAL_MS} ms from each (${perSec(heard).toFixed(0)}/s), window ${(elapsed / 1000).toFixed(0)} s:`,
    );
    line(
      "  controller RSS after start-up",
      `${started.now.toFixed(0)} MB  (target < ${RSS_TARGET_MB} MB: ${verdict(started.now < RSS_TARGET_MB)})`,
    );
    line(
      "  controller RSS after an upgrade check",
      `${checked.now.toFixed(0)} MB, peak ${checked.peak.toFixed(0)} MB  (target < ${RSS_TARGET_MB} MB: ${verdict(checked.now < RSS_TARGET_MB)}); the check took ${tCheck.toFixed(0)} ms, ${check.headRequests} HEADs`,
    );
    line(
      "  controller CPU, idle but for heartbeats",
      `${cpuPct.toFixed(1)} % of a core  (target < ${CPU_TARGET_PCT} %: ${verdict(cpuPct < CPU_TARGET_PCT)})`,
    );
    line(
      "  KV writes to `nodes`",
      `${perSec(writes).toFixed(1)}/s  (${(writes / Math.max(1, heard)).toFixed(3)} per heartbeat)`,
    );
    const above = cpu - (baselinePct / 100) * elapsed;
    line(
      "  controller CPU per heartbeat",
      `${((cpu * 1000) / Math.max(1, heard)).toFixed(0)} µs; ${((above * 1000) / Math.max(1, heard)).toFixed(0)} µs above its CPU with no nodes (${baselinePct.toFixed(1)} %)`,
    );
    perHeartbeatCosts();
  } catch (e) {
    const tail = await readFile(logPath, "utf8").catch(() => "");
    process.stderr.write(`the controller's last log lines:\n${tail.split("\n").slice(-20).join("\n")}\n`);
    throw e;
  } finally {
    beats?.stop();
    if (ctl && ctl.exitCode === null) {
      const gone = new Promise((r) => ctl!.once("exit", r));
      ctl.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (ctl.exitCode === null) ctl.kill("SIGKILL");
    }
    await client?.close();
    await fx?.dispose();
    await nats.dispose();
    await rm(work, { recursive: true, force: true });
    await rm(storeDir, { recursive: true, force: true });
  }
}

await main();
