/**
 * server-loss: a 3-server JetStream cluster, buckets and streams with 3 replicas; one server is
 * killed -9 (in turn the leader of the ops bucket's stream and a follower) during installs and a
 * steady stream of list calls from one long-lived client (as the dashboard holds one). Every
 * install must succeed; the failed-call window is the span of call start times whose call failed
 * (plus one call interval), and must stay under 5 s.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { bucketNames, isTerminal } from "../../src/protocol/index.js";
import { NatsCluster, type NatsServer } from "../../test/harness/nats-server.js";
import { pushBackendImage } from "../../test/harness/oci-image.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import { Registry } from "../../test/harness/registry.js";
import { installEverywhere } from "../lib/api.js";
import { WINDOW_LIMIT_MS, type Scenario, type ScenarioOptions, type ScenarioResult } from "../lib/outcome.js";
import { connectClient, Procs, sleep, waitFor } from "../lib/procs.js";

const CALL_EVERY_MS = 200;
/** Calls are watched at least this long after the kill, and 5 s past the last failure. */
const OBSERVE_MIN_MS = 12_000;
const OBSERVE_MAX_MS = 45_000;
const END_BOUND_MS = 90_000;

interface Call {
  method: "nodes.list" | "ops.list";
  start: number;
  end?: number;
  ok?: boolean;
  error?: string;
}

/** Every stream has all its replicas current (a restarted server has caught up). */
async function allCurrent(client: ClusterClient): Promise<boolean> {
  for await (const si of client.jsm.streams.list()) {
    const peers = si.cluster?.replicas ?? [];
    if (!si.cluster?.leader || peers.length < 2 || peers.some((p) => !p.current || p.offline)) return false;
  }
  return true;
}

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const rounds = o.rounds ?? (o.smoke ? 1 : 2);
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [cluster, registry, dir] = await Promise.all([
    NatsCluster.start(3),
    Registry.start(),
    tempDir("chaos-loss"),
  ]);
  const clients: ClusterClient[] = [];
  const c = {
    installs: 0,
    succeeded: 0,
    stuck: 0,
    calls: 0,
    failed: 0,
    windows: [] as number[],
    /** Rounds whose calls were still failing when the observation ended: their window is a lower bound. */
    open: 0,
    killed: [] as string[],
    notes: [] as string[],
  };
  try {
    const img = await pushBackendImage(registry, "chaos/loss", "1", { files: { v: "1" } });
    const gallery = join(dir, "gallery.yaml");
    await writeFile(
      gallery,
      Array.from({ length: rounds }, (_, i) => `- name: s${i}\n  uri: ${img.ref}\n`).join(""),
    );
    const servers = cluster.urls;
    const r3 = ["--replicas", "3"];
    await procs.controller({ id: "c1", servers, gallery, extra: r3 });
    await procs.controller({ id: "c2", servers, gallery, extra: r3 });
    const nodes = ["n1", "n2", "n3"];
    await Promise.all(
      nodes.map((n) => procs.agent({ nodeId: n, servers, backendsDir: join(dir, n), extra: r3 })),
    );
    const client = await connectClient(servers, "chaos-dash", 3);
    clients.push(client);
    await waitFor(
      "every node healthy",
      async () => {
        const r = await client.call("nodes.list", {});
        return r.nodes.filter((n) => n.status === "healthy").length === nodes.length;
      },
      60_000,
    );
    const opsStream = `KV_${bucketNames().ops}`;

    for (let round = 0; round < rounds; round++) {
      await waitFor("every stream's replicas current", () => allCurrent(client), 60_000, 250);
      const leader = (await client.jsm.streams.info(opsStream)).cluster?.leader;
      const leaderAt = cluster.servers.findIndex((_, i) => `n${i + 1}` === leader);
      const victimAt = round % 2 === 0 && leaderAt >= 0 ? leaderAt : (Math.max(0, leaderAt) + 1) % 3;
      const victim: NatsServer = cluster.servers[victimAt]!;
      const role = victimAt === leaderAt ? "ops stream leader" : "follower";
      c.killed.push(`n${victimAt + 1} (${role})`);

      const calls: Call[] = [];
      let streaming = true;
      const stream = (async () => {
        for (let i = 0; streaming; i++) {
          const call: Call = { method: i % 2 === 0 ? "nodes.list" : "ops.list", start: Date.now() };
          calls.push(call);
          const req =
            call.method === "nodes.list" ? client.call("nodes.list", {}) : client.call("ops.list", {});
          void req.then(
            () => Object.assign(call, { end: Date.now(), ok: true }),
            (e: Error) => Object.assign(call, { end: Date.now(), ok: false, error: e.message }),
          );
          await sleep(CALL_EVERY_MS);
        }
      })();
      await sleep(1_000);
      const install = installEverywhere(client, `s${round}`, nodes, {
        callTimeoutMs: 5_000,
        boundMs: 60_000,
      });
      await sleep(300);
      const killedAt = Date.now();
      await victim.stop("SIGKILL");
      await waitFor(
        "the calls to settle after the kill",
        () => {
          const failures = calls.filter((x) => x.ok === false);
          const last = Math.max(killedAt, ...failures.map((x) => x.end ?? x.start));
          const now = Date.now();
          return (
            now - killedAt >= OBSERVE_MAX_MS || (now - killedAt >= OBSERVE_MIN_MS && now - last >= 5_000)
          );
        },
        OBSERVE_MAX_MS + 5_000,
        100,
      );
      streaming = false;
      await stream;
      await waitFor("calls in flight to end", () => calls.every((x) => x.end !== undefined), 30_000, 100);
      const failed = calls.filter((x) => !x.ok);
      const window = failed.length
        ? Math.max(...failed.map((x) => x.start)) - Math.min(...failed.map((x) => x.start)) + CALL_EVERY_MS
        : 0;
      c.calls += calls.length;
      c.failed += failed.length;
      c.windows.push(window);
      if (failed.length) {
        const at = (t: number) => `${((t - killedAt) / 1000).toFixed(1)} s`;
        const by = (m: Call["method"]) => failed.filter((x) => x.method === m).length;
        const errors = [...new Set(failed.map((x) => x.error))].slice(0, 3).map((e) => `"${e}"`);
        const stillFailing = calls.slice(-5).some((x) => !x.ok);
        if (stillFailing) c.open++;
        const open = stillFailing ? "; still failing when the observation ended" : "";
        c.notes.push(
          `round ${round + 1}: failures started ${at(failed[0]!.start)} and ended ${at(Math.max(...failed.map((x) => x.end ?? x.start)))} ` +
            `after the kill (nodes.list ${by("nodes.list")}, ops.list ${by("ops.list")})${open}: ${errors.join(", ")}`,
        );
      }

      const call = await install;
      c.installs += nodes.length;
      if (call.error) c.notes.push(`round ${round + 1}: install: ${call.error}`);
      const ended = await waitFor(
        "the round's installs to end",
        async () => {
          const ops = (await client.call("ops.list", { all: true, backend: `s${round}` })).ops;
          return ops.length >= nodes.length && ops.every((x) => isTerminal(x.state)) ? ops : null;
        },
        END_BOUND_MS,
        250,
      ).catch(() => null);
      if (!ended) c.stuck += nodes.length;
      else c.succeeded += ended.filter((x) => x.state === "succeeded").length;
      for (const x of ended ?? []) {
        if (x.state !== "succeeded")
          c.notes.push(`round ${round + 1}: install on ${x.nodeId} ${x.state}: ${x.error ?? ""}`);
      }
      log(
        `server-loss: round ${round + 1}: killed n${victimAt + 1} (${role}); ${failed.length}/${calls.length} calls failed, window ${window} ms`,
      );
      await victim.restart();
    }
  } finally {
    await procs.stopAll();
    await Promise.all(clients.map((x) => x.close().catch(() => {})));
    await Promise.all([cluster.dispose(), registry.dispose()]);
    await removeDir(dir);
  }
  const worst = Math.max(0, ...c.windows);
  return {
    name: "server-loss",
    title: "one of three NATS servers killed -9 (JetStream cluster, --replicas 3)",
    rows: [
      ["servers killed", c.killed.join(", ")],
      ["installs succeeded", `${c.succeeded}/${c.installs}`],
      ["installs stuck", c.stuck],
      ["list calls failed", `${c.failed} of ${c.calls}`],
      ["failed-call window per kill", c.windows.map((w) => `${w} ms`).join(", ")],
      ["worst window", `${c.open ? "≥ " : ""}${worst} ms (limit ${WINDOW_LIMIT_MS} ms)`],
    ],
    summary:
      `one of three servers killed during installs (${c.killed.length} kills): ${c.succeeded}/${c.installs} installs succeeded, ` +
      `${c.failed} of ${c.calls} list calls failed, failed-call window ${c.open ? "at least " : ""}${worst} ms` +
      (c.open
        ? ` (${c.open} of ${c.killed.length} still failing ${OBSERVE_MAX_MS / 1000} s after the kill)`
        : ""),
    invariants: { stuck: c.stuck, windowMs: worst },
    notes: c.notes,
  };
}

export const serverLoss: Scenario = {
  name: "server-loss",
  proves:
    "losing one server of three loses no install and interrupts the API for less than 5 s (the window is the figure to watch)",
  run,
};
