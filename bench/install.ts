/**
 * bench/install: pull a ~200 MB, 3-layer synthetic image from a loopback registry and print wall
 * time, throughput and peak RSS for
 *   1. the agent's install (the real `backplane agent` process, op submitted over NATS),
 *   2. `skopeo copy` to a local dir plus `tar -xzf` of each layer (what an operator does by hand),
 *   3. `tar -xzf` of the same layers already on disk (the floor).
 *
 * Run: npx tsc -p tsconfig.build.json && npx tsx bench/install.ts [--mb 200] [--runs 3]
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ClusterClient, WorkQueue } from "../src/client/index.js";
import { silentLogger } from "../src/lib/log.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { removeDir, tempDir, waitFor } from "../src/demo/processes.js";
import { Registry } from "../src/demo/registry.js";
import { buildImage, parseImageRef, pushImage } from "../src/oci/index.js";
import { newOpId, opKey, type OpRecord } from "../src/protocol/index.js";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "200" },
    runs: { type: "string", default: "3" },
    /** Only the agent's install (for quick iterations). */
    "agent-only": { type: "boolean", default: false },
  },
});
const TOTAL_MB = Number(values.mb);
const RUNS = Number(values.runs);
const BIN = fileURLToPath(new URL("../bin/backplane.js", import.meta.url));

interface Sample {
  wallMs: number;
  peakRssKb: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Run a command, returning its wall time and peak RSS (GNU time's %M). */
function timed(cmd: string, args: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    execFile("/usr/bin/time", ["-f", "%M", cmd, ...args], { maxBuffer: 1 << 26 }, (err, _out, stderr) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (err) return reject(new Error(`${cmd} ${args.join(" ")} failed: ${stderr}`));
      const kb = Number(stderr.trim().split("\n").at(-1));
      resolve({ wallMs, peakRssKb: kb });
    });
  });
}

async function vmHwmKb(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

/** Three layer directories of random (incompressible) bytes; run.sh in the first. */
async function makeLayers(root: string): Promise<string[]> {
  const perLayer = Math.round((TOTAL_MB * 1024 * 1024) / 3);
  const dirs: string[] = [];
  for (let l = 0; l < 3; l++) {
    const dir = join(root, `layer${l}`);
    await mkdir(join(dir, `lib${l}`), { recursive: true });
    if (l === 0) {
      await writeFile(join(dir, "run.sh"), "#!/bin/sh\necho bench\n");
      await chmod(join(dir, "run.sh"), 0o755);
    }
    const files = 4;
    for (let f = 0; f < files; f++) {
      await writeFile(join(dir, `lib${l}`, `blob${f}.bin`), randomBytes(Math.round(perLayer / files)));
    }
    dirs.push(dir);
  }
  return dirs;
}

/** Submit an install the way the controller does and wait for its final state. */
async function install(client: ClusterClient, nodeId: string, name: string, ref: string): Promise<OpRecord> {
  const opId = newOpId();
  const now = Date.now();
  const record: OpRecord = {
    v: 1,
    id: opId,
    nodeId,
    kind: "install",
    backend: name,
    target: { name, uri: ref, mirrors: [] },
    state: "queued",
    requestedBy: "bench",
    createdAt: now,
    updatedAt: now,
    attempts: 0,
    dismissed: false,
  };
  const key = opKey(nodeId, opId);
  // Follow the record with a KV watch (polling would load the machine being measured).
  const final = new Promise<OpRecord>((resolve) => {
    const w = client.watch(
      "ops",
      (e) => {
        if (e.type === "put" && (e.value.state === "succeeded" || e.value.state === "failed")) {
          w.stop();
          resolve(e.value);
        }
      },
      { key },
    );
  });
  await client.create("ops", key, record);
  await new WorkQueue(client).publish(nodeId, opId);
  return final;
}

async function agentRun(
  client: ClusterClient,
  nats: NatsServer,
  ref: string,
  warmRef: string,
  work: string,
  run: number,
  fsync: boolean,
): Promise<Sample> {
  const nodeId = `bench-${fsync ? "sync" : "nosync"}-${run}`;
  const args = [
    BIN,
    "agent",
    "--node-id",
    nodeId,
    "--backends-dir",
    join(work, nodeId),
    "--server",
    nats.url,
  ];
  args.push("--capability", "default");
  if (!fsync) args.push("--no-fsync");
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (b: Buffer) => (log += b.toString()));
  try {
    await waitFor("agent started", () => /"agent started"/.test(log), 20_000);
    // The agent is a daemon: warm it up once (JIT, lazy modules) with a tiny image, as in real life.
    await install(client, nodeId, "warmup", warmRef);
    const t0 = process.hrtime.bigint();
    const done = await install(client, nodeId, "bench", ref);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (done.state !== "succeeded") throw new Error(`agent install failed: ${done.error}`);
    return { wallMs, peakRssKb: await vmHwmKb(child.pid!) };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await removeDir(join(work, nodeId));
  }
}

async function skopeoRun(
  ref: string,
  work: string,
  run: number,
): Promise<{ sample: Sample; layers: string[] }> {
  const dir = join(work, `skopeo-${run}`);
  const out = join(work, `skopeo-out-${run}`);
  await mkdir(out, { recursive: true });
  const copy = await timed("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    `docker://${ref}`,
    `dir:${dir}`,
  ]);
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
    layers: Array<{ digest: string }>;
  };
  const layers = manifest.layers.map((l) => join(dir, l.digest.replace("sha256:", "")));
  let wallMs = copy.wallMs;
  let peak = copy.peakRssKb;
  for (const l of layers) {
    const t = await timed("tar", ["-xzf", l, "-C", out]);
    wallMs += t.wallMs;
    peak = Math.max(peak, t.peakRssKb);
  }
  await removeDir(out);
  return { sample: { wallMs, peakRssKb: peak }, layers };
}

async function floorRun(layers: string[], work: string, run: number): Promise<Sample> {
  const out = join(work, `floor-${run}`);
  await mkdir(out, { recursive: true });
  let wallMs = 0;
  let peak = 0;
  for (const l of layers) {
    const t = await timed("tar", ["-xzf", l, "-C", out]);
    wallMs += t.wallMs;
    peak = Math.max(peak, t.peakRssKb);
  }
  await removeDir(out);
  return { wallMs, peakRssKb: peak };
}

async function main(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL("../dist/cli/main.js", import.meta.url)))) {
    throw new Error("dist/ is missing: run `npx tsc -p tsconfig.build.json` first");
  }
  const work = await tempDir("bench");
  const [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
  try {
    process.stdout.write(`building a ${TOTAL_MB} MB 3-layer image of random bytes...\n`);
    const dirs = await makeLayers(join(work, "src"));
    const img = await buildImage(dirs);
    const ref = registry.ref("bench/backend", "1");
    await pushImage(registry.client(), parseImageRef(ref), img);
    const bytes = img.layers.reduce((s, l) => s + l.size, 0);
    await img.dispose();
    const warmDir = join(work, "warm");
    await mkdir(warmDir);
    await writeFile(join(warmDir, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    await writeFile(join(warmDir, "w.bin"), randomBytes(1024 * 1024));
    const warm = await buildImage([warmDir]);
    const warmRef = registry.ref("bench/warmup", "1");
    await pushImage(registry.client(), parseImageRef(warmRef), warm);
    await warm.dispose();
    await removeDir(join(work, "src"));
    const client = await ClusterClient.connect({ servers: [nats.url], name: "bench", logger: silentLogger });

    const results: Record<string, Sample[]> = {
      agent: [],
      "agent (fsync)": [],
      "skopeo + tar": [],
      floor: [],
    };
    let layers: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (!values["agent-only"] || i === 0) {
        const s = await skopeoRun(ref, work, i);
        results["skopeo + tar"]!.push(s.sample);
        layers = s.layers;
        results.floor!.push(await floorRun(layers, work, i));
      }
      results.agent!.push(await agentRun(client, nats, ref, warmRef, work, i, false));
      results["agent (fsync)"]!.push(await agentRun(client, nats, ref, warmRef, work, i, true));
    }
    await client.close();

    const floor = median(results.floor!.map((s) => s.wallMs));
    process.stdout.write(
      `\n${(bytes / 1024 / 1024).toFixed(1)} MiB compressed in 3 layers, median of ${RUNS} runs\n\n`,
    );
    process.stdout.write(
      `${"method".padEnd(16)} ${"wall".padStart(9)} ${"MiB/s".padStart(8)} ${"x floor".padStart(8)} ${"peak RSS".padStart(10)}\n`,
    );
    for (const [name, samples] of Object.entries(results)) {
      const wall = median(samples.map((s) => s.wallMs));
      const rss = Math.max(...samples.map((s) => s.peakRssKb));
      process.stdout.write(
        `${name.padEnd(16)} ${`${wall.toFixed(0)} ms`.padStart(9)} ${(bytes / 1024 / 1024 / (wall / 1000)).toFixed(0).padStart(8)} ${(wall / floor).toFixed(2).padStart(8)} ${`${(rss / 1024).toFixed(0)} MB`.padStart(10)}\n`,
      );
    }
  } finally {
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(work);
  }
}

await main();
