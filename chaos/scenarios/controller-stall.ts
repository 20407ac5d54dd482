/**
 * controller-stall: SIGSTOP the (only) controller for twice the offline threshold while the agents
 * keep heartbeating, then SIGCONT. No node may be marked offline for the stall (counted from the
 * audit stream's node.status events and the nodes bucket); afterwards a node that really stops is
 * still marked offline, so the guard is not blindness.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { CONTROLLER_LEASE_KEY } from "../../src/protocol/index.js";
import { NatsServer } from "../../test/harness/nats-server.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import type { Scenario, ScenarioOptions, ScenarioResult } from "../lib/outcome.js";
import { connectClient, Procs, range, secs, sleep, waitFor } from "../lib/procs.js";

const OFFLINE_AFTER_MS = 4_000;
const STALL_MS = 2 * OFFLINE_AFTER_MS;
const LOOP_BOUND_MS = 30_000;

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const rounds = o.rounds ?? (o.smoke ? 1 : 2);
  const agents = 3;
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [nats, dir] = await Promise.all([NatsServer.start(), tempDir("chaos-stall")]);
  let client: ClusterClient | undefined;
  const offline: string[] = [];
  let realOfflineMs: number | undefined;
  const loopsBack: number[] = [];
  const loopsStopped: string[] = [];
  try {
    const gallery = join(dir, "gallery.yaml");
    await writeFile(gallery, "- name: none\n  uri: 127.0.0.1:1/none:latest\n");
    const servers = [nats.url];
    const ctl = await procs.controller({
      id: "c1",
      servers,
      gallery,
      extra: ["--offline-after", `${OFFLINE_AFTER_MS}ms`, "--health-tick", "200ms"],
    });
    const nodes = Array.from({ length: agents }, (_, i) => `n${i + 1}`);
    const agentProcs = await Promise.all(
      nodes.map((n) => procs.agent({ nodeId: n, servers, backendsDir: join(dir, n) })),
    );
    client = await connectClient(servers);
    const cl = client;
    await waitFor(
      "every node healthy",
      async () => {
        const r = await cl.call("nodes.list", {});
        return r.nodes.filter((n) => n.status === "healthy").length === agents;
      },
      30_000,
    );
    let judging = true;
    const unsub = cl.onAuditEvent((e) => {
      if (judging && e.kind === "node.status" && /-> offline/.test(e.message ?? ""))
        offline.push(`${e.nodeId}: ${e.message}`);
    });
    const w = cl.watch("nodes", (e) => {
      if (judging && e.type === "put" && e.value.status === "offline")
        offline.push(`${e.key}: offline in the nodes bucket`);
    });
    await w.ready;
    for (let round = 0; round < rounds; round++) {
      const logged = ctl.output().length;
      ctl.child.kill("SIGSTOP");
      await sleep(STALL_MS); // the stall itself
      ctl.child.kill("SIGCONT");
      const resumed = Date.now();
      // The health loop again: every node's record written from a heartbeat sent after the resume.
      const back = await waitFor(
        "the health loop to run after the resume",
        async () => {
          for (const n of nodes)
            if (((await cl.get("nodes", n))?.value.lastHeartbeatAt ?? 0) <= resumed) return null;
          return Date.now();
        },
        LOOP_BOUND_MS,
        50,
      ).catch(() => undefined);
      if (back === undefined) {
        const lease = ctl
          .output()
          .slice(logged)
          .split("\n")
          .filter((l) => /lease|leader/.test(l))
          .map((l) => /"msg":"([^"]*)"/.exec(l)?.[1])
          .join(" → ");
        const held = (await cl.get("leases", CONTROLLER_LEASE_KEY).catch(() => null))?.value;
        const kv = held
          ? `the leases bucket: ${held.holder}, renewed ${((held.renewedAt - resumed) / 1000).toFixed(1)} s after the resume`
          : "the leases bucket: no lease";
        loopsStopped.push(
          `round ${round + 1}: no node record written within ${LOOP_BOUND_MS / 1000} s of the resume ` +
            `(log: ${lease || "nothing about the lease"}; ${kv})`,
        );
        break;
      }
      loopsBack.push(back - resumed);
      // Three heartbeat intervals of fresh data: every judgement after the stall has been made.
      await waitFor(
        "heartbeats recorded after the resume",
        async () => {
          for (const n of nodes)
            if (((await cl.get("nodes", n))?.value.lastHeartbeatAt ?? 0) < resumed + 3_000) return false;
          return true;
        },
        LOOP_BOUND_MS,
      );
      log(`controller-stall: round ${round + 1}: ${offline.length} offline events so far`);
    }
    judging = false;
    // The guard is not blindness: a node that really stops goes offline.
    if (!loopsStopped.length) {
      const stoppedAt = Date.now();
      await procs.kill9(agentProcs[0]!);
      realOfflineMs = await waitFor(
        "a stopped node to go offline",
        async () => {
          return (await cl.get("nodes", nodes[0]!))?.value.status === "offline"
            ? Date.now() - stoppedAt
            : null;
        },
        LOOP_BOUND_MS,
      ).catch(() => undefined);
    }
    unsub();
    w.stop();
  } finally {
    await procs.stopAll();
    await client?.close();
    await nats.dispose();
    await removeDir(dir);
  }
  return {
    name: "controller-stall",
    title: `controller SIGSTOP for ${secs(STALL_MS)} (offline after ${secs(OFFLINE_AFTER_MS)}), agents heartbeating`,
    rows: [
      ["stalls", `${loopsBack.length + loopsStopped.length} of ${rounds}`],
      ["false offline events", offline.length],
      [
        "health loop running again after the resume",
        loopsStopped.length ? `never (${loopsStopped.length} stall)` : range(loopsBack),
      ],
      [
        "a really stopped node marked offline after",
        loopsStopped.length
          ? "not tried"
          : realOfflineMs === undefined
            ? `never (${LOOP_BOUND_MS / 1000} s)`
            : secs(realOfflineMs),
      ],
    ],
    summary:
      `controller stopped ${loopsBack.length + loopsStopped.length}× for ${secs(STALL_MS)} with 3 heartbeating nodes: ` +
      `${offline.length} false offline events; health loop running again after ` +
      (loopsStopped.length ? `never in ${loopsStopped.length} stall` : range(loopsBack)),
    // Loops that never run again, or a detector blind to a real silence, are stuck health.
    invariants: {
      falseOffline: offline.length,
      stuck: loopsStopped.length + (!loopsStopped.length && realOfflineMs === undefined ? 1 : 0),
    },
    notes: [...offline, ...loopsStopped],
  };
}

export const controllerStall: Scenario = {
  name: "controller-stall",
  proves:
    "a stalled controller (SIGSTOP, a long GC pause) judges health only on heartbeats it could read: no false offline",
  run,
};
