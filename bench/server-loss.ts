/**
 * bench/server-loss: one of three NATS servers is killed (SIGKILL) while a client calls the
 * controller API every 100 ms (nodes.list, ops.list, and an ops.install carrying an idempotency
 * key, in turn). A controller replica (replicas 3) and four heartbeating nodes run in this
 * process, each on its own connection given every server's URL. Prints, per scenario, the calls
 * that failed, the window from the first failed call's start to the last failed call's end, the
 * slowest successful call, and the stream leader elections seen in the servers' logs.
 *
 * Scenarios (which server is killed): `client` (the one the calling client is connected to),
 * `controller` (the controller's), `ops-leader` (the ops bucket's stream leader), `meta-leader`.
 *
 * Run: npx tsx bench/server-loss.ts [--scenario NAME]... [--seconds 20] [--no-retry]
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ApiCallError, ClusterClient } from "../src/client/index.js";
import { createLogger, errorMessage, silentLogger } from "../src/lib/log.js";
import { silentTelemetry, telemetryOf } from "../src/lib/telemetry.js";
import { Controller } from "../src/controller/controller.js";
import { NatsCluster, type NatsServer } from "../src/demo/nats-server.js";
import { removeDir, tempDir, waitFor } from "../src/demo/processes.js";
import { bucketNames, type ApiMethod } from "../src/protocol/index.js";
import { lineWriter } from "./lib/report.js";
import { plainHeartbeat } from "./lib/synthetic-cluster.js";

const SCENARIOS = ["client", "controller", "ops-leader", "meta-leader"] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values } = parseArgs({
  options: {
    scenario: { type: "string", multiple: true },
    seconds: { type: "string", default: "20" },
    "no-retry": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});
const scenarios = (values.scenario ?? [...SCENARIOS]) as Scenario[];
for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
const SECONDS = Number(values.seconds);
const RETRY = !values["no-retry"];
const NODES = 4;
const PREFIX = "bp";
const KILL_AT_MS = 3_000;
const EVERY_MS = 100;

const gallery = Array.from(
  { length: 400 },
  (_, i) => `- name: b${i}\n  uri: 127.0.0.1:5999/b${i}:latest\n`,
).join("");

interface Call {
  method: ApiMethod;
  start: number;
  end: number;
  error?: string;
}

/** The server whose log last says it became the leader of `what` (a stream, or the meta group). */
function leaderOf(servers: NatsServer[], pattern: RegExp): NatsServer | undefined {
  let best: { s: NatsServer; at: number } | undefined;
  for (const s of servers) {
    const lines = s.output().split("\n");
    for (let i = lines.length - 1; i >= 0; i--) {
      if (!pattern.test(lines[i]!)) continue;
      const at = Date.parse(
        lines[i]!.match(/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d+/)?.[0]?.replace(/\//g, "-") ?? "",
      );
      if (!best || at > best.at) best = { s, at };
      break;
    }
  }
  return best?.s;
}

/** `[n2] 12:00:01.234 ... is the new leader` lines logged after `since`, for the figures. */
function elections(servers: NatsServer[], since: Date): string[] {
  const out: string[] = [];
  const sinceStamp = since.toISOString().slice(11, 23);
  for (const s of servers) {
    for (const line of s.output().split("\n")) {
      const m = line.match(
        /(\d\d:\d\d:\d\d\.\d{3})\d* .*(JetStream cluster new (?:stream|consumer|metadata) leader for '([^']+)'|Self is new JetStream cluster metadata leader)/,
      );
      if (!m || m[1]! < sinceStamp) continue;
      if (line.includes("consumer")) continue;
      out.push(`${m[1]} ${m[3] ?? "meta"}`);
    }
  }
  return out.sort();
}

async function run(scenario: Scenario): Promise<void> {
  const dir = await tempDir("server-loss");
  const galleryPath = join(dir, "gallery.yaml");
  await writeFile(galleryPath, gallery);
  const cluster = await NatsCluster.start(3);
  const connect = (name: string) =>
    ClusterClient.connect({
      servers: cluster.urls,
      prefix: PREFIX,
      replicas: 3,
      name,
      logger: values.verbose ? createLogger({ client: name }, { level: "info" }) : silentLogger,
    });
  const ctlClient = await connect("controller");
  const ctl = await Controller.start({
    client: ctlClient,
    galleries: [{ name: "bench", url: galleryPath }],
    replicas: 3,
    telemetry: values.verbose
      ? telemetryOf(createLogger({ role: "controller" }, { level: "info" }))
      : silentTelemetry,
    timings: { health: { heartbeatIntervalMs: 1_000 } },
  });
  const nodes = await connect("nodes");
  const beat = () => {
    for (let i = 0; i < NODES; i++) {
      nodes.publishHeartbeat(plainHeartbeat(`node-${i}`, Date.now()));
    }
  };
  beat();
  const hb = setInterval(beat, 1_000);
  const api = await connect("api");
  await waitFor("nodes known", async () => (await api.call("nodes.list", {})).nodes.length === NODES, 20_000);

  const calls: Call[] = [];
  const pending: Array<Promise<void>> = [];
  let n = 0;
  const started = Date.now();
  const names = cluster.servers.map((s) => s.url);
  const victim = (): NatsServer => {
    const byUrl = (c: ClusterClient) =>
      cluster.servers.find((s) => c.nc.getServer().endsWith(`:${s.port}`)) ?? cluster.servers[0]!;
    switch (scenario) {
      case "client":
        return byUrl(api);
      case "controller":
        return byUrl(ctlClient);
      case "ops-leader":
        return leaderOf(
          cluster.servers,
          new RegExp(`new stream leader for '\\$G > KV_${bucketNames(PREFIX).ops}'`),
        )!;
      case "meta-leader":
        return leaderOf(
          cluster.servers,
          /new metadata leader|Self is new JetStream cluster metadata leader/,
        )!;
    }
  };
  let killedAt = 0;
  let killed: NatsServer | undefined;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now();
      if (!killed && now - started >= KILL_AT_MS) {
        killed = victim();
        killedAt = Date.now();
        void killed.stop("SIGKILL");
      }
      if (now - started >= SECONDS * 1_000) {
        clearInterval(tick);
        resolve();
        return;
      }
      const k = n++;
      const method: ApiMethod = (["nodes.list", "ops.list", "ops.install"] as const)[k % 3]!;
      const call: Call = { method, start: Date.now(), end: 0 };
      calls.push(call);
      const p =
        method === "ops.install"
          ? api
              .call("ops.install", { backend: `b${k % 400}`, nodes: [`node-${k % NODES}`] }, undefined, {
                idempotencyKey: `bench-${started}-${k}`,
                ...(RETRY ? {} : { retry: false }),
              })
              .then((r) => {
                // A node refused is an install that did not happen.
                if (r.refused.length > 0) throw new Error(`refused: ${r.refused[0]!.error}`);
              })
          : api.call(method, {}, undefined, RETRY ? {} : { retry: false });
      pending.push(
        p.then(
          () => {
            call.end = Date.now();
          },
          (e: unknown) => {
            call.end = Date.now();
            call.error = e instanceof ApiCallError ? `${e.code}: ${e.message}` : errorMessage(e);
          },
        ),
      );
    }, EVERY_MS);
  });
  await Promise.all(pending);
  clearInterval(hb);

  const failed = calls.filter((c) => c.error);
  const line = lineWriter(34);
  process.stdout.write(
    `\n== ${scenario}: killed ${killed?.url} (servers ${names.join(" ")}) ${RETRY ? "" : "(no retry)"}\n`,
  );
  line("calls", `${calls.length}, failed ${failed.length}`);
  if (failed.length > 0) {
    const from = Math.min(...failed.map((c) => c.start));
    const to = Math.max(...failed.map((c) => c.end));
    line(
      "failed-call window",
      `${((to - from) / 1000).toFixed(1)} s (from kill +${((from - killedAt) / 1000).toFixed(1)} s)`,
    );
    const byMethod = new Map<string, number>();
    for (const c of failed) byMethod.set(c.method, (byMethod.get(c.method) ?? 0) + 1);
    line("failed by method", [...byMethod].map(([m, c]) => `${m} ${c}`).join(", "));
    const reasons = new Map<string, number>();
    for (const c of failed) {
      const r = c.error!.replace(/\d+/g, "N").slice(0, 110);
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
    for (const [r, c] of reasons) line(`  ${c}×`, r);
    if (values.verbose)
      for (const c of failed)
        line(
          `  +${((c.start - killedAt) / 1000).toFixed(2)}..+${((c.end - killedAt) / 1000).toFixed(2)} s`,
          `${c.method} ${c.error!.slice(0, 100)}`,
        );
  } else line("failed-call window", "0 s");
  const ok = calls.filter((c) => !c.error).map((c) => c.end - c.start);
  line("slowest successful call", `${(Math.max(...ok) / 1000).toFixed(1)} s`);
  const slow = calls.filter((c) => !c.error && c.end - c.start > 1_000);
  line("successful calls over 1 s", String(slow.length));
  if (slow.length > 0) {
    const from = Math.min(...slow.map((c) => c.start));
    const to = Math.max(...slow.map((c) => c.end));
    line(
      "window of calls over 1 s",
      `${((to - from) / 1000).toFixed(1)} s (from kill +${((from - killedAt) / 1000).toFixed(1)} s)`,
    );
  }
  if (values.verbose)
    for (const c of slow)
      line(
        `  slow +${((c.start - killedAt) / 1000).toFixed(2)}..+${((c.end - killedAt) / 1000).toFixed(2)} s`,
        c.method,
      );
  line("elections after the kill", elections(cluster.servers, new Date(killedAt)).join(", ") || "none");

  ctl.stop().catch(() => {});
  await Promise.all([api.close(), nodes.close(), ctlClient.close()]).catch(() => {});
  await ctl.stop().catch(() => {});
  await cluster.dispose();
  await removeDir(dir);
}

for (const s of scenarios) await run(s);
process.exit(0);
