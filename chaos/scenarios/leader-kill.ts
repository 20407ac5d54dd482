/**
 * leader-kill: three controller replicas, five agents; each round fans installs out to every
 * node (one ops.install per backend, sent with an idempotency key, retried with the same key until
 * answered) and kills -9 the leader while the calls are in flight. Every (node, backend) must end
 * with exactly one op record, ended, installed once on disk; a retry of a lost reply gets the op
 * id the first call created. The new leader's loops are timed by the first node record written
 * from a heartbeat sent after the kill (the health monitor is a leader duty).
 */
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { CONTROLLER_LEASE_KEY, isTerminal, parseOpKey, type OpRecord } from "../../src/protocol/index.js";
import { NatsServer } from "../../test/harness/nats-server.js";
import { pushBackendImage } from "../../test/harness/oci-image.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import { Registry } from "../../test/harness/registry.js";
import { installEverywhere } from "../lib/api.js";
import type { Scenario, ScenarioOptions, ScenarioResult } from "../lib/outcome.js";
import { connectClient, pick, Procs, range, sleep, waitFor, type Spawned } from "../lib/procs.js";

const BACKENDS_PER_ROUND = 4;
const CALL_TIMEOUT_MS = 3_000;
/** Past the 120 s after which a replica takes over a request key claimed by a replica that died. */
const ANSWER_BOUND_MS = 135_000;
/** A lost reply answered later than this waited on the dead replica's claim. */
const HELD_MS = 10_000;
/** How long the leader lies frozen before the kill. */
const FROZEN_MS = 300;
const END_BOUND_MS = 90_000;

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const rounds = o.rounds ?? (o.smoke ? 1 : 2);
  const agents = o.smoke ? 2 : 5;
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [nats, registry, dir] = await Promise.all([
    NatsServer.start(),
    Registry.start(),
    tempDir("chaos-leader"),
  ]);
  let client: ClusterClient | undefined;
  const c = {
    ops: 0,
    lost: 0,
    duplicated: 0,
    twice: 0,
    stuck: 0,
    succeeded: 0,
    calls: 0,
    repliesLost: 0,
    retries: 0,
    held: [] as number[],
    sameId: 0,
    otherId: 0,
    refused: [] as string[],
    loops: [] as number[],
    lease: [] as number[],
  };
  try {
    const img = await pushBackendImage(registry, "chaos/tiny", "1", { files: { v: "1" } });
    const names = Array.from({ length: rounds * BACKENDS_PER_ROUND }, (_, i) => `b${i}`);
    const gallery = join(dir, "gallery.yaml");
    await writeFile(gallery, names.map((n) => `- name: ${n}\n  uri: ${img.ref}\n`).join(""));
    const ids = ["c1", "c2", "c3"];
    const ctls = new Map<string, Spawned>();
    const startCtl = async (id: string) =>
      ctls.set(id, await procs.controller({ id, servers: [nats.url], gallery }));
    for (const id of ids) await startCtl(id);
    const nodes = Array.from({ length: agents }, (_, i) => `n${i + 1}`);
    await Promise.all(
      nodes.map((n) => procs.agent({ nodeId: n, servers: [nats.url], backendsDir: join(dir, n) })),
    );
    client = await connectClient([nats.url]);
    const cl = client;
    await waitFor(
      "every node healthy",
      async () => {
        const r = await cl.call("nodes.list", {});
        return r.nodes.filter((n) => n.status === "healthy").length === agents;
      },
      30_000,
    );

    for (let round = 0; round < rounds; round++) {
      const leaderId = await waitFor(
        "a leader",
        async () => (await cl.get("leases", CONTROLLER_LEASE_KEY))?.value.holder,
        30_000,
      );
      const leader = ctls.get(leaderId);
      if (!leader) throw new Error(`the lease names ${leaderId}, not one of ours`);
      const backends = names.slice(round * BACKENDS_PER_ROUND, (round + 1) * BACKENDS_PER_ROUND);
      // The leader is frozen at a random moment of the fan-out (SIGSTOP: it writes nothing more, as
      // if killed there), requests keep reaching it for a moment, then it is killed -9. A kill
      // alone lands between the calls as often as not: each is answered in a few milliseconds.
      const calls = backends.map((b) =>
        installEverywhere(cl, b, nodes, { callTimeoutMs: CALL_TIMEOUT_MS, boundMs: ANSWER_BOUND_MS }),
      );
      await sleep(pick([0, 1, 2, 5, 10]));
      leader.child.kill("SIGSTOP");
      const killedAt = Date.now();
      await sleep(FROZEN_MS);
      await procs.kill9(leader);
      // The new leader's loops: a node record written from a heartbeat sent after the kill.
      const loopsRunning = waitFor(
        "the new leader's health loop",
        async () => {
          const n = await cl.get("nodes", nodes[0]!).catch(() => null);
          return n && n.value.lastHeartbeatAt > killedAt + 500 ? Date.now() : null;
        },
        60_000,
        50,
      ).catch(() => undefined);
      const leaseTaken = waitFor(
        "another replica to take the lease",
        async () => {
          const l = await cl.get("leases", CONTROLLER_LEASE_KEY).catch(() => null);
          return l && l.value.holder !== leaderId ? Date.now() : null;
        },
        60_000,
        50,
      ).catch(() => undefined);
      const done = await Promise.all(calls);
      const [loopsAt, leaseAt] = await Promise.all([loopsRunning, leaseTaken]);
      if (loopsAt) c.loops.push(loopsAt - killedAt);
      if (leaseAt) c.lease.push(leaseAt - killedAt);
      await startCtl(leaderId);

      // Every (node, backend) of the round: one record, ended, installed once.
      const records = new Map<string, OpRecord[]>();
      const ended = await waitFor(
        "the round's ops to end",
        async () => {
          records.clear();
          for (const key of await cl.keys("ops")) {
            const k = parseOpKey(key);
            const r = k && (await cl.get("ops", key))?.value;
            if (!r || !backends.includes(r.backend)) continue;
            const at = `${r.nodeId}/${r.backend}`;
            records.set(at, [...(records.get(at) ?? []), r]);
          }
          const all = [...records.values()].flat();
          return all.length >= nodes.length * backends.length && all.every((r) => isTerminal(r.state));
        },
        END_BOUND_MS,
        250,
      ).catch(() => false);
      for (const call of done) {
        if (call.error) c.refused.push(`${call.backend}: ${call.error}`);
        c.calls++;
        if (call.lost) c.repliesLost++;
        c.retries += call.lost;
        if (call.lost && call.tookMs > HELD_MS) c.held.push(call.tookMs);
        for (const node of nodes) {
          c.ops++;
          const recs = records.get(`${node}/${call.backend}`) ?? [];
          const answered = call.admitted?.find((a) => a.nodeId === node);
          if (recs.length === 0) {
            c.lost++;
            continue;
          }
          if (recs.length > 1) c.duplicated += recs.length - 1;
          if (call.lost && answered) {
            if (recs.some((r) => r.id === answered.opId) && recs.length === 1) c.sameId++;
            else c.otherId++;
          }
          const r = recs[0]!;
          if (!isTerminal(r.state)) c.stuck++;
          else if (r.state === "succeeded") c.succeeded++;
          const gens = await readdir(join(dir, node, ".generations", call.backend)).catch(() => []);
          if (gens.length > 1) c.twice++;
        }
      }
      if (!ended) log(`leader-kill: round ${round + 1}: not every op ended within ${END_BOUND_MS / 1000} s`);
      log(
        `leader-kill: round ${round + 1}: killed ${leaderId}; ${done.filter((x) => x.lost).length} replies lost`,
      );
    }
  } finally {
    await procs.stopAll();
    await client?.close();
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(dir);
  }
  return {
    name: "leader-kill",
    title: `leader controller kill -9 during fan-outs (3 replicas, ${agents} agents)`,
    rows: [
      ["rounds (one leader kill each)", rounds],
      ["ops", `${c.ops} over ${agents} agents`],
      ["lost", c.lost],
      ["duplicated", c.duplicated],
      ["executed twice", c.twice],
      ["stuck", c.stuck],
      ["succeeded", `${c.succeeded}/${c.ops}`],
      ["lease taken over after", range(c.lease)],
      ["new leader's loops running after", range(c.loops)],
      ["fan-out calls", c.calls],
      ["replies lost", `${c.repliesLost} calls (${c.retries} attempts without a reply)`],
      [
        "lost replies held by the dead replica's claim",
        c.held.length ? `${c.held.length} calls, answered after ${range(c.held)}` : "0",
      ],
      [
        "retries that got the same op id",
        `${c.sameId}/${c.sameId + c.otherId} ops of calls that lost a reply`,
      ],
    ],
    summary:
      `leader controller kill -9 during fan-outs, ${rounds} rounds, ${c.ops} ops over ${agents} agents: ${c.lost} lost, ` +
      `${c.duplicated} duplicated, ${c.twice} executed twice, ${c.stuck} stuck; the new leader's loops running again after ` +
      `${range(c.loops)}; ${c.repliesLost} replies lost and ${c.otherId === 0 ? "the retries got the same op id" : `${c.otherId} retries got another op id`}`,
    invariants: { lost: c.lost, stuck: c.stuck, duplicated: c.duplicated + c.twice + c.otherId },
    notes: c.refused,
  };
}

export const leaderKill: Scenario = {
  name: "leader-kill",
  proves:
    "killing the leader mid fan-out loses, duplicates and re-runs nothing: admission is idempotent per request key " +
    "and per (node, backend), and another replica takes over the leader's loops",
  run,
};
