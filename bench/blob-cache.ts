/**
 * bench/blob-cache: what the agent's blob cache (<backends-dir>/.blobs) costs and saves. Pulls a
 * synthetic image (random bytes, 2 layers) from a loopback registry with the real `backplane agent`
 * process, and prints the wall time of
 *   1. a cold install with the cache on (the default: layers are also written to the cache),
 *   2. a reinstall of it (layers streamed from the cache, re-verified, re-extracted),
 *   3. the same two with --blob-cache-max 0 (no cache: the reinstall downloads everything again).
 *
 * Run: npx tsc -p tsconfig.build.json && npx tsx bench/blob-cache.ts [--mb 100] [--runs 3] [--rate 20M]
 * (--rate: the agent's --rate-limit, a link slower than loopback).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ClusterClient, WorkQueue } from "../src/client/index.js";
import { silentLogger } from "../src/lib/log.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { removeDir, tempDir, waitFor } from "../src/demo/processes.js";
import { Registry } from "../src/demo/registry.js";
import { buildImage, parseImageRef, pushImage } from "../src/oci/index.js";
import { newOpId, opKey, type OpKind, type OpRecord } from "../src/protocol/index.js";

const { values } = parseArgs({
  options: {
    mb: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    /** The agent's --rate-limit: a link slower than loopback, where the cache saves the most. */
    rate: { type: "string" },
  },
});
const TOTAL_MB = Number(values.mb);
const RUNS = Number(values.runs);
const BIN = fileURLToPath(new URL("../bin/backplane.js", import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function makeLayers(root: string): Promise<string[]> {
  const dirs: string[] = [];
  for (let l = 0; l < 2; l++) {
    const dir = join(root, `layer${l}`);
    await mkdir(dir, { recursive: true });
    if (l === 0) {
      await writeFile(join(dir, "run.sh"), "#!/bin/sh\necho bench\n");
      await chmod(join(dir, "run.sh"), 0o755);
    }
    await writeFile(join(dir, `blob${l}.bin`), randomBytes(Math.round((TOTAL_MB * 1024 * 1024) / 2)));
    dirs.push(dir);
  }
  return dirs;
}

/** Submit an op the way the controller does; resolves with its final record and wall time. */
async function op(
  client: ClusterClient,
  nodeId: string,
  kind: OpKind,
  name: string,
  ref: string,
): Promise<number> {
  const opId = newOpId();
  const now = Date.now();
  const record: OpRecord = {
    v: 1,
    id: opId,
    nodeId,
    kind,
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
  const t0 = process.hrtime.bigint();
  await client.create("ops", key, record);
  await new WorkQueue(client).publish(nodeId, opId);
  const done = await final;
  if (done.state !== "succeeded") throw new Error(`${kind} failed: ${done.error}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function agentRun(
  client: ClusterClient,
  nats: NatsServer,
  refs: { ref: string; warm: string },
  work: string,
  run: number,
  cache: boolean,
): Promise<{ cold: number; re: number }> {
  const nodeId = `bench-${cache ? "cache" : "nocache"}-${run}`;
  const args = [BIN, "agent", "--node-id", nodeId, "--backends-dir", join(work, nodeId)];
  args.push("--server", nats.url, "--capability", "default", "--no-fsync", "--probe", "none");
  if (!cache) args.push("--blob-cache-max", "0");
  if (values.rate) args.push("--rate-limit", values.rate);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (b: Buffer) => (log += b.toString()));
  try {
    await waitFor("agent started", () => /"agent started"/.test(log), 20_000);
    await op(client, nodeId, "install", "warmup", refs.warm);
    const cold = await op(client, nodeId, "install", "bench", refs.ref);
    const re = await op(client, nodeId, "reinstall", "bench", refs.ref);
    return { cold, re };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await removeDir(join(work, nodeId));
  }
}

async function main(): Promise<void> {
  if (!existsSync(fileURLToPath(new URL("../dist/cli/main.js", import.meta.url)))) {
    throw new Error("dist/ is missing: run `npx tsc -p tsconfig.build.json` first");
  }
  const work = await tempDir("bench-cache");
  const [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
  try {
    const img = await buildImage(await makeLayers(join(work, "src")));
    const ref = registry.ref("bench/cached", "1");
    await pushImage(registry.client(), parseImageRef(ref), img);
    const bytes = img.layers.reduce((s, l) => s + l.size, 0);
    await img.dispose();
    const warmDir = join(work, "warm");
    await mkdir(warmDir);
    await writeFile(join(warmDir, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    const warmImg = await buildImage([warmDir]);
    const warm = registry.ref("bench/warmup", "1");
    await pushImage(registry.client(), parseImageRef(warm), warmImg);
    await warmImg.dispose();
    await removeDir(join(work, "src"));
    const client = await ClusterClient.connect({ servers: [nats.url], name: "bench", logger: silentLogger });
    const rows: Record<string, number[]> = {
      "cold install, cache on": [],
      "reinstall from the cache": [],
      "cold install, cache off": [],
      "reinstall, cache off": [],
    };
    for (let i = 0; i < RUNS; i++) {
      const on = await agentRun(client, nats, { ref, warm }, work, i, true);
      const off = await agentRun(client, nats, { ref, warm }, work, i, false);
      rows["cold install, cache on"]!.push(on.cold);
      rows["reinstall from the cache"]!.push(on.re);
      rows["cold install, cache off"]!.push(off.cold);
      rows["reinstall, cache off"]!.push(off.re);
    }
    await client.close();
    process.stdout.write(
      `\n${(bytes / 1024 / 1024).toFixed(1)} MiB in 2 layers, loopback registry${values.rate ? ` at --rate-limit ${values.rate}` : ""}, median of ${RUNS} runs\n\n`,
    );
    for (const [name, xs] of Object.entries(rows)) {
      const wall = median(xs);
      process.stdout.write(
        `${name.padEnd(26)} ${`${wall.toFixed(0)} ms`.padStart(9)} ${(bytes / 1024 / 1024 / (wall / 1000)).toFixed(0).padStart(6)} MiB/s\n`,
      );
    }
  } finally {
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(work);
  }
}

await main();
