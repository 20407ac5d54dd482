import { mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import {
  CONTROLLER_LEASE_KEY,
  type OpRecord,
  type Rollout,
  type RolloutNode,
} from "../../src/protocol/index.js";
import { spawnBackplane } from "../harness/backplane.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { stopProcess, waitFor, type Spawned } from "../harness/proc.js";
import { connect, controllerSuite, uniquePrefix, writeGallery } from "./cluster.js";

/**
 * Rollouts end to end: the real `backplane controller` and five real `backplane agent` processes
 * (dist/, built with `npx tsc -p tsconfig.build.json`), each with its own backends dir, a real
 * nats-server and a real docker-registry. One cluster serves every scenario; each scenario rolls
 * out its own backend, so they do not disturb each other.
 *
 * The agents probe every new version with `--probe exec` before it goes live. The probe fails
 * on a build that ships a file named `broken`, and on a build that ships a file named `hold` it
 * waits until the test creates `<dir in hold>/<node id>`: a node's op stays in flight until the
 * test lets it finish, which is how a test pauses or kills a controller mid-wave without racing it.
 */

const suite = controllerSuite("rollouts-e2e", { registry: true });

const NODES = ["n1", "n2", "n3", "n4", "n5"];
const H100 = new Set(["n2", "n4"]);
/** One backend per scenario; each starts at 1.0.0 on every node and has a 2.0.0 to roll out. */
const BACKENDS = ["order", "canary", "abort", "pause", "sel", "policy", "ha"] as const;
type Backend = (typeof BACKENDS)[number];

const CONTROLLER_FLAGS = [
  "--heartbeat-interval",
  "200ms",
  "--health-tick",
  "100ms",
  "--offline-after",
  "10s",
  "--reap-interval",
  "500ms",
  "--check-debounce",
  "200ms",
  "--gallery-refresh",
  "200ms",
  "--lease-ttl",
  "2s",
  "--rollout-interval",
  "100ms",
];

const runSh = (b: string, version: "one" | "two") => `#!/bin/sh\necho ${b} ${version}\n`;

interface Cluster {
  prefix: string;
  c: ClusterClient;
  gallery: string;
  /** ctl-a, and ctl-b once the failover scenario started it. */
  controllers: Map<string, Spawned>;
  /** Each node's backends dir. */
  dirs: Map<string, string>;
  /** Per held backend, the dir whose `<node>` files let that node's probe finish. */
  gates: Partial<Record<Backend, string>>;
}

let k: Cluster;
const procs: Spawned[] = [];

function controller(id: string): Spawned {
  const p = spawnBackplane(
    [
      "controller",
      "--server",
      suite.nats.url,
      "--prefix",
      k.prefix,
      "--gallery",
      k.gallery,
      "--id",
      id,
      "--gallery-cache",
      join(suite.dir, `cache-${id}`),
      ...CONTROLLER_FLAGS,
    ],
    { BACKPLANE_LOG_LEVEL: "info" },
  );
  procs.push(p);
  k.controllers.set(id, p);
  return p;
}

function agent(nodeId: string): Spawned {
  const dir = join(suite.dir, "nodes", nodeId);
  k.dirs.set(nodeId, dir);
  const probe = `test ! -e broken && if test -e hold; then until test -e "$(cat hold)/${nodeId}"; do sleep 0.05; done; fi`;
  const p = spawnBackplane(
    [
      "agent",
      "--server",
      suite.nats.url,
      "--prefix",
      k.prefix,
      "--node-id",
      nodeId,
      "--backends-dir",
      dir,
      "--capability",
      "default",
      "--heartbeat-interval",
      "200ms",
      "--no-fsync",
      "--label",
      `gpu=${H100.has(nodeId) ? "h100" : "a100"}`,
      "--probe",
      "exec",
      "--probe-command",
      probe,
      "--probe-timeout",
      "30s",
      // Every backend's install at once: the set-up installs six per node.
      "--max-parallel",
      "6",
    ],
    { BACKPLANE_LOG_LEVEL: "info" },
  );
  procs.push(p);
  return p;
}

const output = (p: Spawned) => p.output().slice(-4000);

/** Let `nodes` finish the probe of a held build of `b`. */
async function open(b: Backend, ...nodes: string[]): Promise<void> {
  for (const n of nodes) await writeFile(join(k.gates[b]!, n), "");
}

async function settled(ids: string[], timeoutMs = 30_000): Promise<OpRecord[]> {
  return waitFor(
    `ops ${ids.join(", ")} finished`,
    async () => {
      const ops = (await k.c.call("ops.list", { all: true })).ops.filter((o) => ids.includes(o.id));
      return ops.length === ids.length &&
        ops.every((o) => ["succeeded", "failed", "cancelled"].includes(o.state))
        ? ops
        : null;
    },
    timeoutMs,
  );
}

const get = (id: string) => k.c.call("rollouts.get", { id });

async function until(
  id: string,
  what: string,
  ok: (r: Rollout, rows: RolloutNode[]) => boolean,
  timeoutMs = 30_000,
): Promise<{ rollout: Rollout; nodes: RolloutNode[] }> {
  let last: unknown;
  return waitFor(
    what,
    async () => {
      const g = await get(id);
      last = { rollout: g.rollout, nodes: g.nodes.map((x) => [x.node, x.w, x.o, x.why]) };
      return ok(g.rollout, g.nodes) ? g : null;
    },
    timeoutMs,
  ).catch((e: unknown) => {
    const logs = [...k.controllers].map(([name, p]) => `--- ${name} ---\n${output(p)}`).join("\n");
    throw new Error(`${String(e)}; rollout was ${JSON.stringify(last)}\n${logs}`);
  });
}

/** The ops a rollout admitted (upgrades and reverts). */
async function opsOf(id: string): Promise<OpRecord[]> {
  return (await k.c.call("ops.list", { all: true })).ops.filter((o) => o.requestedBy === `rollout ${id}`);
}

const byNode = (rows: RolloutNode[]) => Object.fromEntries(rows.map((x) => [x.node, x]));

interface Where {
  /** What the node's inventory says is live. */
  version?: string;
  generation?: string | null;
  /** What its backends dir holds: metadata.json's version, the live generation, run.sh. */
  disk: { version: string; generation: string; runSh: string };
}

async function where(nodeId: string, b: Backend): Promise<Where> {
  const inv = (await k.c.get("inventory", nodeId))?.value.backends.find((x) => x.name === b);
  const dir = join(k.dirs.get(nodeId)!, b);
  const meta = JSON.parse(await readFile(join(dir, "metadata.json"), "utf8")) as { version: string };
  return {
    version: inv?.metadata.version,
    generation: inv?.generation,
    disk: {
      version: meta.version,
      generation: basename(await readlink(join(dir, "current"))),
      runSh: await readFile(join(dir, "run.sh"), "utf8"),
    },
  };
}

async function fleet(b: Backend): Promise<Record<string, Where>> {
  const out: Record<string, Where> = {};
  for (const n of NODES) out[n] = await where(n, b);
  return out;
}

/**
 * The nodes in `two` run 2.0.0 of `b`, the others 1.0.0: the inventory, metadata.json, run.sh and
 * the live generation on disk agree.
 */
async function expectVersions(b: Backend, two: readonly string[]): Promise<Record<string, Where>> {
  const f = await fleet(b);
  for (const n of NODES) {
    const v = two.includes(n) ? "two" : "one";
    const semver = v === "two" ? "2.0.0" : "1.0.0";
    expect({ node: n, version: f[n]!.version, disk: f[n]!.disk.version, runSh: f[n]!.disk.runSh }).toEqual({
      node: n,
      version: semver,
      disk: semver,
      runSh: runSh(b, v),
    });
    expect(f[n]!.disk.generation).toBe(f[n]!.generation);
  }
  return f;
}

/** Audit events of one rollout, oldest first. */
async function audit(id: string): Promise<string[]> {
  const { events } = await k.c.call("ops.history", { limit: 10_000 });
  return events
    .filter((e) => e.message?.startsWith(`${id}:`))
    .sort((a, b) => a.at - b.at)
    .map((e) => e.kind);
}

beforeAll(async () => {
  const prefix = uniquePrefix();
  const gates: Cluster["gates"] = {};
  for (const b of ["pause", "ha"] as const) {
    gates[b] = join(suite.dir, "gates", b);
    await mkdir(gates[b], { recursive: true });
  }
  const refs = await Promise.all(
    BACKENDS.map(async (b) => {
      const files: Record<string, string> = {};
      if (b === "canary") files.broken = "this build fails its health probe\n";
      if (b === "pause" || b === "ha") files.hold = gates[b]!;
      const one = await pushBackendImage(suite.registry, `rollouts/${b}`, "v1", { runSh: runSh(b, "one") });
      const two = await pushBackendImage(suite.registry, `rollouts/${b}`, "v2", {
        runSh: runSh(b, "two"),
        files,
      });
      return [one.ref, two.ref] as const;
    }),
  );
  const v1 = Object.fromEntries(BACKENDS.map((b, i) => [b, refs[i]![0]]));
  const v2 = Object.fromEntries(BACKENDS.map((b, i) => [b, refs[i]![1]]));
  const yaml = (refs: Record<string, string>, version: string) =>
    BACKENDS.map((b) => `- name: ${b}\n  uri: ${refs[b]}\n  version: "${version}"\n`).join("");
  const gallery = await writeGallery(suite.dir, yaml(v1, "1.0.0"), "gallery.yaml");
  const c = await connect(suite.nats.url, prefix);
  k = { prefix, c, gallery, controllers: new Map(), dirs: new Map(), gates };

  const a = controller("ctl-a");
  for (const n of NODES) agent(n);
  // Generous: six node processes boot at once, on a machine that may be busy.
  await waitFor("ctl-a leads", () => /"msg":"became leader"/.test(a.output()), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${output(a)}`);
  });
  await waitFor(
    "five healthy labelled nodes",
    async () => {
      const { nodes } = await c.call("nodes.list", {});
      return nodes.length === NODES.length && nodes.every((n) => n.status === "healthy" && n.last.labels.gpu);
    },
    60_000,
  );

  // 1.0.0 of every backend on every node, through ordinary installs.
  const ids: string[] = [];
  for (const b of BACKENDS) {
    const r = await c.call("ops.install", { backend: b, nodes: NODES });
    expect(r.refused).toEqual([]);
    ids.push(...r.admitted.map((x) => x.opId));
  }
  const installs = await settled(ids, 45_000);
  expect(installs.filter((o) => o.state !== "succeeded")).toEqual([]);

  // 2.0.0 appears in the gallery; the controller reloads it and plans every node for each.
  await writeFile(gallery, yaml(v2, "2.0.0"));
  await waitFor(
    "2.0.0 in the gallery and every node planned",
    async () => {
      for (const b of BACKENDS) {
        const { plan } = await c.call("rollouts.plan", { backend: b });
        const moves = plan.waves.flat();
        if (moves.length !== NODES.length || moves.some((m) => m.to.version !== "2.0.0")) return false;
      }
      return true;
    },
    20_000,
  );
  // The second replica boots while the first scenarios run; the failover scenario needs it.
  controller("ctl-b");
}, 180_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => stopProcess(p, "SIGKILL")));
  await k?.c.close();
});

describe("rollouts with real agents, a real registry and the controller binary", () => {
  it("a 1,50%,100% rollout moves n1, then n2 n3, then n4 n5: no wave starts before the one before passed its gate", async () => {
    const { plan } = await k.c.call("rollouts.plan", { backend: "order", waves: "1,50%,100%" });
    expect(plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n1"], ["n2", "n3"], ["n4", "n5"]]);
    expect(plan.waves[0]![0]).toMatchObject({ from: { version: "1.0.0" }, to: { version: "2.0.0" } });
    const soakMs = 1000;
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "order",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "1s",
      actor: "alice",
    });
    const done = await until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.rollout.reason).toBe("5 nodes upgraded");
    expect(done.nodes.map((x) => [x.node, x.w, x.o, x.fromVersion])).toEqual([
      ["n1", 0, "ok", "1.0.0"],
      ["n2", 1, "ok", "1.0.0"],
      ["n3", 1, "ok", "1.0.0"],
      ["n4", 2, "ok", "1.0.0"],
      ["n5", 2, "ok", "1.0.0"],
    ]);

    const ops = await opsOf(rollout.id);
    expect(ops.map((o) => [o.nodeId, o.kind, o.state]).sort()).toEqual(
      NODES.map((n) => [n, "upgrade", "succeeded"]),
    );
    const op = Object.fromEntries(ops.map((o) => [o.nodeId, o]));
    const gates = done.rollout.actions.filter((a) => a.what === "gate");
    expect(gates.map((g) => g.wave)).toEqual([0, 1, 2]);
    const waves = [["n1"], ["n2", "n3"], ["n4", "n5"]];
    for (let w = 1; w < waves.length; w++) {
      const before = waves[w - 1]!;
      const gate = gates[w - 1]!.at;
      // The gate passed only after the wave before had finished and soaked ...
      expect(gate).toBeGreaterThanOrEqual(Math.max(...before.map((n) => op[n]!.finishedAt!)) + soakMs);
      // ... and no node of this wave was admitted, let alone started, before it.
      for (const n of waves[w]!) {
        expect(op[n]!.createdAt).toBeGreaterThanOrEqual(gate);
        expect(op[n]!.startedAt!).toBeGreaterThanOrEqual(gate);
      }
    }
    const f = await expectVersions("order", NODES);
    for (const n of NODES) expect(op[n]!.result?.generation).toBe(f[n]!.generation);
    const events = await audit(rollout.id);
    expect(events.filter((e) => e === "rollout.gate.passed")).toHaveLength(3);
    expect(events.filter((e) => e === "rollout.wave")).toHaveLength(3);
    expect(events.filter((e) => e === "rollout.ended")).toHaveLength(1);
  });

  it("a build that fails its probe on the canary stops the rollout at wave 1; every node keeps the old version", async () => {
    const before = await fleet("canary");
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "canary",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "0s",
    });
    const { rollout: r, nodes } = await until(rollout.id, "paused", (x) => x.state === "paused");
    expect(r.reason).toMatch(/^failure budget exceeded in wave 1: 1 node failed \(budget 0\): n1$/);
    expect(r.wave).toBe(0);
    expect(nodes.map((x) => [x.node, x.o])).toEqual([
      ["n1", "fail"],
      ["n2", "wait"],
      ["n3", "wait"],
      ["n4", "wait"],
      ["n5", "wait"],
    ]);
    const ops = await opsOf(rollout.id);
    expect(ops.map((o) => [o.nodeId, o.state])).toEqual([["n1", "failed"]]);
    expect(ops[0]!.error).toMatch(/probe/);
    // The canary never activated the bad build either: every node, canary included, is where it was.
    expect(await expectVersions("canary", [])).toEqual(before);

    // Nothing was moved, so aborting reverts nothing.
    await k.c.call("rollouts.abort", { id: rollout.id });
    const end = await until(rollout.id, "aborted", (x) => x.state === "aborted");
    expect(end.rollout.reason).toMatch(/0 nodes reverted$/);
    expect(await opsOf(rollout.id)).toHaveLength(1);
  });

  it("abort after wave 2 puts every node back on the generation it had before", async () => {
    const before = await fleet("abort");
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "abort",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "1h",
    });
    await until(
      rollout.id,
      "canary upgraded, soaking",
      (r, rows) => rows[0]!.o === "ok" && !!r.soakStartedAt,
    );
    await k.c.call("rollouts.promote", { id: rollout.id, actor: "bob" });
    const mid = await until(
      rollout.id,
      "wave 2 upgraded, soaking",
      (r, rows) => r.wave === 1 && !!r.soakStartedAt && rows.filter((x) => x.o === "ok").length === 3,
    );
    expect(mid.nodes.map((x) => x.o)).toEqual(["ok", "ok", "ok", "wait", "wait"]);
    await expectVersions("abort", ["n1", "n2", "n3"]);

    await k.c.call("rollouts.abort", { id: rollout.id, actor: "bob" });
    const end = await until(rollout.id, "aborted", (r) => r.state === "aborted");
    expect(end.rollout.reason).toBe("aborted by bob; 3 nodes reverted");
    expect(end.nodes.map((x) => [x.node, x.o])).toEqual([
      ["n1", "reverted"],
      ["n2", "reverted"],
      ["n3", "reverted"],
      ["n4", "wait"],
      ["n5", "wait"],
    ]);
    // Same generation as before on every node: an instant rollback, no new download.
    expect(await expectVersions("abort", [])).toEqual(before);
    for (const row of end.nodes.slice(0, 3)) expect(row.gen).toBe(before[row.node]!.generation);
    const ops = await opsOf(rollout.id);
    expect(ops.map((o) => [o.nodeId, o.kind, o.state]).sort()).toEqual([
      ["n1", "rollback", "succeeded"],
      ["n1", "upgrade", "succeeded"],
      ["n2", "rollback", "succeeded"],
      ["n2", "upgrade", "succeeded"],
      ["n3", "rollback", "succeeded"],
      ["n3", "upgrade", "succeeded"],
    ]);
    const events = await audit(rollout.id);
    expect(events.filter((e) => e === "rollout.node.reverted")).toHaveLength(3);
    expect(events).toEqual(expect.arrayContaining(["rollout.promoted", "rollout.aborted", "rollout.ended"]));
  });

  it("pause holds (the op in flight finishes, nothing new is admitted), resume continues", async () => {
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "pause",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "0s",
    });
    // n1's op is in flight (its probe waits for the test), when the rollout is paused.
    await until(rollout.id, "the canary's op in flight", (_r, rows) => rows[0]!.o === "run");
    const paused = await k.c.call("rollouts.pause", { id: rollout.id, reason: "watching", actor: "carol" });
    expect(paused.rollout).toMatchObject({ state: "paused", reason: "watching" });
    await open("pause", "n1");
    // The leader records the canary's success and starts its soak while paused. With a 0 s soak a
    // running rollout would have passed the gate and admitted wave 2 in that same pass.
    const held = await until(
      rollout.id,
      "the canary recorded as upgraded while paused",
      (r, rows) => rows[0]!.o === "ok" && r.soakStartedAt !== undefined,
    );
    expect(held.rollout).toMatchObject({ state: "paused", wave: 0 });
    expect(held.nodes.map((x) => x.o)).toEqual(["ok", "wait", "wait", "wait", "wait"]);
    expect((await opsOf(rollout.id)).map((o) => [o.nodeId, o.state])).toEqual([["n1", "succeeded"]]);
    await expectVersions("pause", ["n1"]);

    await open("pause", "n2", "n3", "n4", "n5");
    await k.c.call("rollouts.resume", { id: rollout.id, actor: "carol" });
    const done = await until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.rollout.pauses.map((p) => [p.by, p.reason])).toEqual([["carol", "watching"]]);
    const ops = await opsOf(rollout.id);
    expect(ops.map((o) => o.nodeId).sort()).toEqual(NODES);
    const resumedAt = done.rollout.actions.find((a) => a.what === "resumed")!.at;
    for (const o of ops) if (o.nodeId !== "n1") expect(o.createdAt).toBeGreaterThanOrEqual(resumedAt);
    await expectVersions("pause", NODES);
  });

  it("a selector (-l gpu=h100) targets only the nodes started with --label gpu=h100", async () => {
    const { plan } = await k.c.call("rollouts.plan", {
      backend: "sel",
      selector: "gpu=h100",
      waves: "1,100%",
    });
    expect(plan.targeting).toEqual({ kind: "selector", selector: "gpu=h100" });
    expect(plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n2"], ["n4"]]);
    expect(plan.skipped).toEqual([]);
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "sel",
      selector: "gpu=h100",
      waves: "1,100%",
      maxParallel: "100%",
      soak: "0s",
    });
    expect(rollout).toMatchObject({ total: 2, eligible: 2 });
    const done = await until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.nodes.map((x) => x.node)).toEqual(["n2", "n4"]);
    expect((await opsOf(rollout.id)).map((o) => o.nodeId).sort()).toEqual(["n2", "n4"]);
    await expectVersions("sel", ["n2", "n4"]);
  });

  it("a held node and a pinned backend are skipped, and the plan says why", async () => {
    await k.c.call("nodes.hold", { nodeId: "n1", backend: "policy", reason: "disk swap", actor: "dana" });
    await k.c.call("backends.pin", {
      backend: "policy",
      version: "1.0.0",
      selector: "gpu=h100",
      actor: "dana",
    });
    const skipped = [
      { nodeId: "n1", skip: "held", why: "node n1 is held for policy: disk swap" },
      { nodeId: "n2", skip: "pinned", why: "policy is pinned to 1.0.0 on n2" },
      { nodeId: "n4", skip: "pinned", why: "policy is pinned to 1.0.0 on n4" },
    ];
    // The controller's view follows the policy bucket; the plan says why once it has.
    const { plan } = await waitFor("the plan to skip the held and pinned nodes", async () => {
      const p = await k.c.call("rollouts.plan", { backend: "policy", waves: "1,100%" });
      return p.plan.skipped.length === skipped.length ? p : null;
    });
    expect(plan.skipped).toEqual(skipped);
    expect(plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n3"], ["n5"]]);

    const { rollout } = await k.c.call("rollouts.start", {
      backend: "policy",
      waves: "1,100%",
      maxParallel: "100%",
      soak: "0s",
    });
    expect(rollout).toMatchObject({ total: 5, eligible: 2 });
    const done = await until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.rollout.reason).toBe("2 nodes upgraded, 3 skipped");
    expect(done.nodes.map((x) => [x.node, x.o, x.skip ?? null])).toEqual([
      ["n3", "ok", null],
      ["n5", "ok", null],
      ["n1", "skip", "held"],
      ["n2", "skip", "pinned"],
      ["n4", "skip", "pinned"],
    ]);
    expect((await opsOf(rollout.id)).map((o) => o.nodeId).sort()).toEqual(["n3", "n5"]);
    await expectVersions("policy", ["n3", "n5"]);
  });

  it("the leader killed (SIGKILL) mid-rollout: the other controller finishes it once, no op twice", async () => {
    for (const [id, p] of k.controllers) {
      await waitFor(
        `${id} serving`,
        () => /"msg":"controller replica started"/.test(p.output()),
        60_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${output(p)}`);
      });
    }
    const holder = async () => (await k.c.get("leases", CONTROLLER_LEASE_KEY))?.value.holder;
    const leaderId = await waitFor("a leader", holder);
    const [otherId] = [...k.controllers.keys()].filter((x) => x !== leaderId);
    const leader = k.controllers.get(leaderId)!;
    const other = k.controllers.get(otherId!)!;

    await open("ha", "n1", "n2");
    const { rollout } = await k.c.call("rollouts.start", {
      backend: "ha",
      waves: "1,100%",
      maxParallel: "2",
      soak: "0s",
    });
    // Wave 2 is under way: n2 done, n3's op in flight (held by its probe), n4's admitted.
    const mid = await until(
      rollout.id,
      "wave 2 under way",
      (r, rows) => r.wave === 1 && byNode(rows).n2!.o === "ok" && byNode(rows).n3!.o === "run",
    );
    expect(byNode(mid.nodes).n5!.o).toBe("wait");
    leader.child.kill("SIGKILL");
    await leader.exited;
    await open("ha", "n3", "n4", "n5");

    // The lease expires (2 s) and the survivor takes it, and with it the rollout.
    await waitFor(`${otherId} leads`, async () => (await holder()) === otherId, 15_000);
    await waitFor(`${otherId} says so`, () => /"msg":"became leader"/.test(other.output()));
    const done = await until(rollout.id, "succeeded", (r) => r.state === "succeeded", 45_000);
    expect(done.rollout.reason).toBe("5 nodes upgraded");
    expect(done.rollout.actions.some((x) => x.by === `rollouts@${otherId}`)).toBe(true);
    expect(done.rollout.actions.filter((x) => x.what === "ended")).toHaveLength(1);
    const ops = await opsOf(rollout.id);
    const perNode = Object.fromEntries(NODES.map((n) => [n, ops.filter((o) => o.nodeId === n).length]));
    expect(perNode).toEqual({ n1: 1, n2: 1, n3: 1, n4: 1, n5: 1 });
    expect(ops.map((o) => [o.nodeId, o.state, o.attempts]).sort()).toEqual(
      NODES.map((n) => [n, "succeeded", 1]),
    );
    await expectVersions("ha", NODES);
    const events = await audit(rollout.id);
    expect(events.filter((e) => e === "rollout.ended")).toHaveLength(1);
  }, 60_000);
});
