/**
 * nats-restart: kill -9 the (single) nats-server while installs run, keep it down 0–15 s, start
 * it again on the same port and store. Every record written before the kill must be there after
 * it, every op must still succeed, and each role must come back by itself: the agents (their next
 * heartbeat), the controller's API (a nodes.list answered), the controller's loops (a node record
 * written from a fresh heartbeat) and a dashboard's client (connected again).
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { isTerminal, type BucketKey } from "../../src/protocol/index.js";
import { NatsServer } from "../../test/harness/nats-server.js";
import { pushBackendImage } from "../../test/harness/oci-image.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import { Registry } from "../../test/harness/registry.js";
import type { Scenario, ScenarioOptions, ScenarioResult } from "../lib/outcome.js";
import { connectClient, Procs, range, secs, sleep, waitFor } from "../lib/procs.js";

const DOWNS_MS = [0, 5_000, 15_000, 2_000, 10_000];
const BUCKETS: BucketKey[] = ["ops", "nodes", "inventory"];
const END_BOUND_MS = 90_000;
const BACK_BOUND_MS = 60_000;

async function snapshot(c: ClusterClient): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const b of BUCKETS) {
    for (const key of await c.keys(b)) {
      const e = await c.get(b, key).catch(() => null);
      if (e) out.set(`${b}/${key}`, e.revision);
    }
  }
  return out;
}

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const rounds = o.rounds ?? (o.smoke ? 1 : 3);
  const downs = o.smoke ? [1_000] : Array.from({ length: rounds }, (_, i) => DOWNS_MS[i % DOWNS_MS.length]!);
  const agents = o.smoke ? 2 : 3;
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [nats, registry, dir] = await Promise.all([
    NatsServer.start(),
    Registry.start(),
    tempDir("chaos-nats"),
  ]);
  const clients: ClusterClient[] = [];
  const c = {
    records: 0,
    lost: 0,
    ops: 0,
    succeeded: 0,
    stuck: 0,
    agents: [] as number[],
    api: [] as number[],
    loops: [] as number[],
    dash: [] as number[],
    notes: [] as string[],
  };
  try {
    const img = await pushBackendImage(registry, "chaos/restart", "1", {
      files: { "payload.bin": randomBytes(1_000_000) },
    });
    const gallery = join(dir, "gallery.yaml");
    await writeFile(gallery, downs.map((_, i) => `- name: r${i}\n  uri: ${img.ref}\n`).join(""));
    const servers = [nats.url];
    await procs.controller({ id: "c1", servers, gallery });
    const nodes = Array.from({ length: agents }, (_, i) => `n${i + 1}`);
    await Promise.all(
      nodes.map((n) =>
        procs.agent({ nodeId: n, servers, backendsDir: join(dir, n), extra: ["--rate-limit", "1M"] }),
      ),
    );
    // The dashboard's connection: one client kept across every restart.
    const dash = await connectClient(servers, "chaos-dash");
    clients.push(dash);
    await waitFor(
      "every node healthy",
      async () => {
        const r = await dash.call("nodes.list", {});
        return r.nodes.filter((n) => n.status === "healthy").length === agents;
      },
      30_000,
    );

    for (const [round, down] of downs.entries()) {
      const backend = `r${round}`;
      const admitted = (await dash.call("ops.install", { backend, nodes, actor: "chaos" })).admitted;
      c.ops += admitted.length;
      await waitFor(
        "an install under way",
        async () => {
          const ops = (await dash.call("ops.list", { backend })).ops;
          return ops.some((x) => x.state === "running");
        },
        30_000,
      );
      const before = await snapshot(dash);
      await nats.stop("SIGKILL");
      await sleep(down);
      let dashBack: number | undefined;
      const unsub = dash.onStatus((s) => {
        if (s.state === "connected" && dashBack === undefined) dashBack = Date.now();
      });
      await nats.restart();
      const at = Date.now();
      if (dash.status.state === "connected" && dashBack === undefined) dashBack = at;
      const probe = await connectClient(servers, "chaos-probe");
      clients.push(probe);
      const heard = new Map<string, number>();
      const stopHb = probe.onHeartbeat((h) => {
        if (!heard.has(h.nodeId)) heard.set(h.nodeId, Date.now());
      });
      const api = waitFor(
        "the controller API",
        async () => {
          await probe.call("nodes.list", {}, 500);
          return Date.now();
        },
        BACK_BOUND_MS,
        50,
      ).catch(() => undefined);
      const loops = waitFor(
        "the controller loops",
        async () => {
          const n = await probe.get("nodes", nodes[0]!);
          return n && n.value.lastHeartbeatAt > at ? Date.now() : null;
        },
        BACK_BOUND_MS,
        50,
      ).catch(() => undefined);
      await waitFor("every agent's heartbeat", () => heard.size === agents, BACK_BOUND_MS, 50).catch(
        () => {},
      );
      const [apiAt, loopsAt] = await Promise.all([api, loops]);
      await waitFor("the dashboard client", () => dashBack !== undefined, BACK_BOUND_MS, 50).catch(() => {});
      stopHb();
      unsub();
      for (const n of nodes) {
        const t = heard.get(n);
        if (t) c.agents.push(t - at);
        else c.notes.push(`round ${round + 1}: no heartbeat of ${n} within ${BACK_BOUND_MS / 1000} s`);
      }
      if (apiAt) c.api.push(apiAt - at);
      if (loopsAt) c.loops.push(loopsAt - at);
      if (dashBack) c.dash.push(Math.max(0, dashBack - at));

      for (const [k, rev] of before) {
        c.records++;
        const [b, ...rest] = k.split("/");
        const e = await probe.get(b as BucketKey, rest.join("/")).catch(() => null);
        if (!e || e.revision < rev) {
          c.lost++;
          c.notes.push(`round ${round + 1}: ${k} ${e ? `at revision ${e.revision}, was ${rev}` : "missing"}`);
        }
      }
      const ended = await waitFor(
        "the round's ops to end",
        async () => {
          const ops = (await probe.call("ops.list", { all: true, backend })).ops;
          return ops.length >= admitted.length && ops.every((x) => isTerminal(x.state)) ? ops : null;
        },
        END_BOUND_MS,
        250,
      ).catch(() => null);
      if (!ended) c.stuck += admitted.length;
      else c.succeeded += ended.filter((x) => x.state === "succeeded").length;
      for (const x of ended ?? [])
        if (x.state !== "succeeded") c.notes.push(`${x.nodeId}/${backend}: ${x.state}: ${x.error ?? ""}`);
      await probe.close();
      log(
        `nats-restart: round ${round + 1}: down ${secs(down)}, API back after ${apiAt ? secs(apiAt - at) : "never"}`,
      );
    }
  } finally {
    await procs.stopAll();
    await Promise.all(clients.map((x) => x.close().catch(() => {})));
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(dir);
  }
  return {
    name: "nats-restart",
    title: `nats-server kill -9 and restart on the same store (down ${downs.map((d) => d / 1000).join(", ")} s)`,
    rows: [
      ["restarts", downs.length],
      ["records lost", `${c.lost} of ${c.records}`],
      ["ops succeeded", `${c.succeeded}/${c.ops}`],
      ["ops stuck", c.stuck],
      ["reconnect: agents", range(c.agents)],
      ["reconnect: controller API", range(c.api)],
      ["reconnect: controller loops", range(c.loops)],
      ["reconnect: dashboard", range(c.dash)],
    ],
    summary:
      `nats-server kill -9 and restart on the same store (${Math.min(...downs) / 1000}–${Math.max(...downs) / 1000} s down): ` +
      `${c.lost} records lost, ${c.succeeded}/${c.ops} ops succeeded; reconnect after restart: agents ${range(c.agents)}, ` +
      `controller API ${range(c.api)}, controller loops ${range(c.loops)}, dashboard ${range(c.dash)}`,
    invariants: { lost: c.lost, stuck: c.stuck },
    notes: c.notes,
  };
}

export const natsRestart: Scenario = {
  name: "nats-restart",
  proves:
    "a crashed and restarted nats-server loses no record, fails no op, and every role reconnects by itself",
  run,
};
