/**
 * Dashboard under load: a synthetic cluster of 500 nodes × 30 backends, 100 ops reporting progress
 * 4×/s each and heartbeats every 5 s, fed through a real nats-server to the real `backplane dash`
 * binary running in a pseudo-terminal (`script` from util-linux). Prints CPU % and peak RSS of the
 * dashboard process, frames per second, key-to-frame latency measured on the pty, and how long after
 * connecting its first full screen took. Sizes from `--nodes --backends --ops`.
 *
 *   npx tsc -p tsconfig.build.json && npx tsx bench/dash-load.ts
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClusterClient } from "../src/client/index.js";
import { NatsServer } from "../src/demo/nats-server.js";
import { encode } from "../src/protocol/index.js";
import { lineWriter, pct } from "./lib/report.js";
import { BACKENDS, heartbeat, NODES, nodeId, OPS, ProgressSource, records } from "./lib/synthetic-cluster.js";

const PROGRESS_PER_SEC = 4;
const HEARTBEAT_MS = 5_000;
const COLS = 120;
const ROWS = 40;
const PHASE_MS = 15_000;
const SAMPLES = 60;

const BIN = fileURLToPath(new URL("../bin/backplane.js", import.meta.url));
const DIST = fileURLToPath(new URL("../dist/cli/dash-screen.js", import.meta.url));
const CLK_TCK = 100;

async function seed(c: ClusterClient): Promise<void> {
  const writes: Array<Promise<unknown>> = [];
  for (const r of records(Date.now())) {
    writes.push(c.put(r.bucket, r.key, r.value));
    if (writes.length > 200) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
}

/** Heartbeats spread evenly over each 5 s, and 4 progress events per op per second. */
function startLoad(c: ClusterClient): () => void {
  const progress = new ProgressSource();
  const stepMs = 1000 / PROGRESS_PER_SEC;
  const hbPerStep = Math.ceil(NODES / (HEARTBEAT_MS / stepMs));
  let hbNext = 0;
  const timer = setInterval(() => {
    const at = Date.now();
    for (const p of progress.tick(at)) c.nc.publish(c.subjects.progress(p.nodeId, p.opId), encode(p));
    for (let n = 0; n < hbPerStep; n++) {
      const i = hbNext++ % NODES;
      c.nc.publish(c.subjects.heartbeat(nodeId(i)), encode(heartbeat(i, at)));
    }
  }, stepMs);
  return () => clearInterval(timer);
}

const ANSI = new RegExp(String.raw`\u001B\[[0-9;?]*[A-Za-z]`, "g");
const COMPLETE = new RegExp(String.raw`^\u001B\[[0-9;?]*[A-Za-z]`);

/** The dashboard in a pty: `script` gives it a terminal; we read what it draws and type into it. */
class PtyDash {
  /** What was drawn, escape sequences removed (only a tail is kept). */
  private plain = "";
  private carry = "";
  private dropped = 0;
  private frames = 0;
  private waiters: Array<{ text: string | RegExp; from: number; resolve: (at: number) => void }> = [];
  readonly proc: ChildProcess;
  constructor(server: string, configDir: string) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TERM: "xterm-256color",
      BACKPLANE_CONFIG_DIR: configDir,
    };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the dashboard.
    const nodeArgs = process.env.BENCH_NODE_ARGS ?? "";
    const cmd = `stty cols ${COLS} rows ${ROWS}; exec ${process.execPath} ${nodeArgs} ${BIN} dash --server ${server}`;
    this.proc = spawn("script", ["-qfc", cmd, "/dev/null"], { env, stdio: ["pipe", "pipe", "inherit"] });
    this.proc.stdout!.on("data", (b: Buffer) => this.onData(b.toString("utf8")));
  }
  private onData(chunk: string): void {
    const at = performance.now();
    // Ink wraps each frame in a synchronized-update block.
    this.frames += chunk.split("\u001B[?2026h").length - 1;
    let text = this.carry + chunk;
    // An escape sequence cut at the chunk's end waits for the next chunk.
    const cut = text.lastIndexOf("\u001B");
    if (cut >= 0 && !COMPLETE.test(text.slice(cut))) {
      this.carry = text.slice(cut);
      text = text.slice(0, cut);
    } else this.carry = "";
    this.plain += text.replace(ANSI, "");
    if (this.plain.length > 2_000_000) {
      this.dropped += this.plain.length - 500_000;
      this.plain = this.plain.slice(-500_000);
    }
    this.waiters = this.waiters.filter((w) => {
      if (!this.has(w.text, w.from)) return true;
      w.resolve(at);
      return false;
    });
  }
  /** Position in the plain text drawn so far. */
  get position(): number {
    return this.dropped + this.plain.length;
  }
  get frameCount(): number {
    return this.frames;
  }
  private has(text: string | RegExp, from: number): boolean {
    const at = Math.max(0, from - this.dropped);
    return typeof text === "string" ? this.plain.indexOf(text, at) >= 0 : text.test(this.plain.slice(at));
  }
  /** Resolves with the arrival time of the output in which `text` first appears after `from`. */
  waitFor(text: string | RegExp, from: number, timeoutMs = 30_000): Promise<number> {
    if (this.has(text, from)) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no "${String(text)}" on screen after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        text,
        from,
        resolve: (at) => {
          clearTimeout(t);
          resolve(at);
        },
      });
    });
  }
  press(keys: string): void {
    this.proc.stdin!.write(keys);
  }
  async pid(): Promise<number> {
    for (let i = 0; i < 100; i++) {
      const kids = readFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`, "utf8").trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("dashboard process not found under script");
  }
}

const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function statusKb(pid: number, key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

async function phase(dash: PtyDash, pid: number, label: string) {
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  const f0 = dash.frameCount;
  await new Promise((r) => setTimeout(r, PHASE_MS));
  const secs = (performance.now() - t0) / 1000;
  const cpu = ((cpuTicks(pid) - c0) / CLK_TCK / secs) * 100;
  const fps = (dash.frameCount - f0) / secs;
  return { label, cpu, fps };
}

/** Key to frame: time from a key to the pty output that shows its effect. */
async function keyToFrame(dash: PtyDash, key: string, shows: string): Promise<number> {
  const from = dash.position;
  const t = performance.now();
  dash.press(key);
  const seen = await dash.waitFor(shows, from);
  await new Promise((r) => setTimeout(r, 150 + Math.random() * 150));
  return seen - t;
}

async function main() {
  if (!existsSync(DIST)) throw new Error("build first: npx tsc -p tsconfig.build.json");
  const server = await NatsServer.start();
  const client = await ClusterClient.connect({ servers: [server.url], name: "bench" });
  // Keep the operator's own dashboard config out of it.
  const configDir = mkdtempSync(join(tmpdir(), "bp-dash-bench-"));
  let dash: PtyDash | undefined;
  let stopLoad = () => {};
  try {
    const loadStart = loadAvg();
    process.stdout.write(`seeding ${NODES} nodes × ${BACKENDS} backends, ${OPS} ops…\n`);
    await seed(client);
    stopLoad = startLoad(client);
    dash = new PtyDash(server.url, configDir);
    const pid = await dash.pid();
    const started = performance.now();
    const connected = await dash.waitFor("● connected", 0, 60_000);
    const listed = await dash.waitFor(`Nodes [1/${NODES}]`, 0, 120_000);
    // Full: every node counted in the title, and the first row's inventory and ops columns filled
    // (BE, OPS, LABELS: node 0 has every backend and one running op).
    const full = Math.max(listed, await dash.waitFor(new RegExp(` ${BACKENDS} +1 rack=0 `), 0, 120_000));
    // Its own CPU time until then: what the first screen costs on a core of its own, whatever
    // else the machine runs.
    const fullCpu = cpuTicks(pid) / CLK_TCK;
    process.stdout.write(
      `dashboard up with ${NODES} nodes in ${((full - started) / 1000).toFixed(1)} s from spawn\n`,
    );

    const nodesPhase = await phase(dash, pid, "Nodes view (heartbeats, 1 s clock)");
    dash.press("3");
    await dash.waitFor("Operations [", dash.position);
    const opsPhase = await phase(dash, pid, "Operations view (400 progress/s)");

    // Switching views (a whole new screen), alternating Nodes and Operations.
    const switches: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      switches.push(
        i % 2 === 0 ? await keyToFrame(dash, "1", "Nodes [") : await keyToFrame(dash, "3", "Operations ["),
      );
    }
    // Moving the selection down the node list (the title shows the position).
    await keyToFrame(dash, "1", "Nodes [");
    const moves: number[] = [];
    for (let i = 0; i < SAMPLES; i++) moves.push(await keyToFrame(dash, "j", `Nodes [${i + 2}/${NODES}]`));
    const rssPeak = statusKb(pid, "VmHWM") / 1024;
    const rssNow = statusKb(pid, "VmRSS") / 1024;

    const line = lineWriter(44);
    process.stdout.write(
      `\nbackplane dash under load: ${NODES} nodes × ${BACKENDS} backends, ${OPS} ops × ${PROGRESS_PER_SEC}/s progress, heartbeats every ${HEARTBEAT_MS / 1000} s, ${COLS}×${ROWS} pty\n`,
    );
    for (const p of [nodesPhase, opsPhase]) {
      line(`CPU, ${p.label}`, `${p.cpu.toFixed(1)} % of one core (target < 25 %)`);
      line(`frames/s, ${p.label}`, p.fps.toFixed(1));
    }
    line(
      "first full screen after connecting",
      `${((full - connected) / 1000).toFixed(2)} s (target < 3 s); ${((full - started) / 1000).toFixed(2)} s from spawn`,
    );
    line("  every node listed, after connecting", `${((listed - connected) / 1000).toFixed(2)} s`);
    line("  its CPU time from spawn to full screen", `${fullCpu.toFixed(2)} s`);
    line("RSS peak / now", `${rssPeak.toFixed(0)} MB / ${rssNow.toFixed(0)} MB (target < 250 MB)`);
    const keys = (label: string, xs: number[]) => {
      const l = [...xs].sort((a, b) => a - b);
      line(
        `key to frame, ${label}`,
        `p50 ${pct(l, 50).toFixed(0)} ms, p95 ${pct(l, 95).toFixed(0)} ms, max ${l.at(-1)!.toFixed(0)} ms (target p95 < 100 ms)`,
      );
    };
    keys(`${SAMPLES} view switches`, switches);
    keys(`${SAMPLES} × j`, moves);
    line(
      "machine load (1-min loadavg), start / end",
      `${loadStart} / ${loadAvg()} on ${cpus().length} cores`,
    );
    dash.press("q");
  } finally {
    stopLoad();
    if (dash) {
      const exited = new Promise((r) => dash!.proc.once("exit", r));
      dash.press("q");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (dash.proc.exitCode === null) dash.proc.kill("SIGTERM");
    }
    await client.close();
    await server.dispose();
    rmSync(configDir, { recursive: true, force: true });
  }
}

await main();
