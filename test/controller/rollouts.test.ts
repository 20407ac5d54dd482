import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import {
  type InstalledBackend,
  type OpRecord,
  type Rollout,
  type RolloutNode,
} from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader, type Replica } from "./cluster.js";
import { FakeNode, type Behaviour } from "./fake-node.js";

const GALLERY = `
- &foo
  name: foo
  capabilities:
    default: cpu-foo
- name: cpu-foo
  uri: 127.0.0.1:5999/foo:cpu
  version: 2.0.0
`;

const suite = controllerSuite("rollouts", { gallery: GALLERY });

/** foo 1.0.0 installed through its meta, live on generation g1. */
const OLD: InstalledBackend[] = [
  {
    name: "foo",
    metadata: { name: "foo", meta_backend_for: "cpu-foo" },
    isMeta: true,
    generation: null,
    previousGenerations: [],
  },
  {
    name: "cpu-foo",
    metadata: { name: "cpu-foo", version: "1.0.0" },
    isMeta: false,
    generation: "g1",
    previousGenerations: [],
  },
];

interface Env {
  client: ClusterClient;
  leader: Replica;
  replicas: Replica[];
  nodes: FakeNode[];
  get(id: string): Promise<{ rollout: Rollout; nodes: RolloutNode[] }>;
  until(id: string, what: string, ok: (r: Rollout, rows: RolloutNode[]) => boolean): Promise<Rollout>;
  ops(): Promise<OpRecord[]>;
}

async function env(
  n: number,
  o: {
    behave?: (op: OpRecord) => Behaviour;
    labels?: (i: number) => Record<string, string>;
    /** Controller replicas (the first to lead is `leader`). */
    replicas?: number;
    /** Nodes that take no work until the test calls `consume()`. */
    idle?: string[];
    /** Serve the HTTP API with this token. */
    httpToken?: string;
  } = {},
): Promise<Env> {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const replicas: Replica[] = [];
  for (let i = 0; i < (o.replicas ?? 1); i++) {
    const rep = await startReplica(suite.nats.url, prefix, {
      galleryPath: suite.galleryPath,
      id: `ctl-${i}`,
      http: o.httpToken ? { listen: "127.0.0.1:0", token: o.httpToken } : undefined,
      // Offline only well after a lease takeover (1.5 s), as in production (60 s vs 10 s).
      timings: { rolloutIntervalMs: 50, health: { offlineAfterMs: 10_000 } },
    });
    suite.defer(() => rep.stop());
    replicas.push(rep);
  }
  const r = await waitLeader(replicas);
  const nodes: FakeNode[] = [];
  for (let i = 1; i <= n; i++) {
    const node = new FakeNode(client, {
      nodeId: `n${i}`,
      backends: structuredClone(OLD),
      behave: o.behave,
      labels: o.labels?.(i),
    });
    await node.start({ work: !o.idle?.includes(`n${i}`) });
    suite.defer(() => node.stop());
    nodes.push(node);
  }
  await waitFor("nodes registered and healthy", async () => {
    const all = await client.list("nodes");
    return all.length === n && all.every((x) => x.value.status === "healthy");
  });
  // The controller's view must have every inventory before a plan is asked for.
  await waitFor("inventories seen", () => replicas.every((x) => x.ctl.view.inventories.size === n));
  const get = (id: string) => client.call("rollouts.get", { id });
  return {
    client,
    leader: r,
    replicas,
    nodes,
    get,
    async until(id, what, ok) {
      let last: Rollout | undefined;
      await waitFor(
        what,
        async () => {
          const g = await get(id);
          last = g.rollout;
          return ok(g.rollout, g.nodes);
        },
        20_000,
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}; rollout was ${JSON.stringify(last)}`);
      });
      return last!;
    },
    async ops() {
      return (await client.list("ops")).map((x) => x.value);
    },
  };
}

const version = (n: FakeNode) => n.backends.find((b) => b.name === "cpu-foo")?.metadata.version;

describe("rollouts against real agents (fake nodes on a real NATS server)", () => {
  it("plans without changing anything, and a 1,50%,100% rollout moves the waves in order", async () => {
    const e = await env(5);
    const { plan } = await e.client.call("rollouts.plan", { backend: "foo", waves: "1,50%,100%" });
    expect(plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n1"], ["n2", "n3"], ["n4", "n5"]]);
    expect(plan.waves[0]![0]).toMatchObject({
      from: { version: "1.0.0", generation: "g1" },
      to: { version: "2.0.0" },
    });
    expect(await e.ops()).toEqual([]);

    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "0s",
      actor: "alice",
    });
    expect(rollout).toMatchObject({ state: "planned", waves: [1, 3, 5], createdBy: "alice" });
    await expect(e.client.call("rollouts.start", { backend: "foo" })).rejects.toThrow(/already/);
    const done = await e.until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.reason).toBe("5 nodes upgraded");

    const ops = (await e.ops()).filter((o) => o.requestedBy === `rollout ${rollout.id}`);
    expect(ops).toHaveLength(5);
    const by = new Map(ops.map((o) => [o.nodeId, o]));
    // No node of a wave starts before every node of the wave before has finished.
    const finished = (ids: string[]) => Math.max(...ids.map((id) => by.get(id)!.finishedAt!));
    const created = (ids: string[]) => Math.min(...ids.map((id) => by.get(id)!.createdAt));
    expect(created(["n2", "n3"])).toBeGreaterThanOrEqual(finished(["n1"]));
    expect(created(["n4", "n5"])).toBeGreaterThanOrEqual(finished(["n2", "n3"]));
    for (const n of e.nodes) {
      expect(version(n)).toBe("2.0.0");
      expect(n.ran).toHaveLength(1);
    }
    const { nodes } = await e.get(rollout.id);
    expect(nodes.map((x) => [x.node, x.w, x.o, x.gen])).toEqual([
      ["n1", 0, "ok", "g1"],
      ["n2", 1, "ok", "g1"],
      ["n3", 1, "ok", "g1"],
      ["n4", 2, "ok", "g1"],
      ["n5", 2, "ok", "g1"],
    ]);
    expect(by.get("n1")!.id).toBe(`${rollout.id}-0`);
  });

  it("stops at the canary when its build fails: every other node keeps the old version", async () => {
    const e = await env(5, { behave: (op) => (op.nodeId === "n1" ? "fail" : "succeed") });
    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      waves: "1,50%,100%",
      soak: "0s",
    });
    const r = await e.until(rollout.id, "paused", (x) => x.state === "paused");
    expect(r.reason).toMatch(/failure budget exceeded in wave 1: 1 node failed \(budget 0\): n1/);
    expect(e.nodes.map(version)).toEqual(["1.0.0", "1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
    expect((await e.ops()).map((o) => o.nodeId)).toEqual(["n1"]);
  });

  it("pause holds, resume and promote continue, and abort puts every moved node back", async () => {
    const e = await env(5);
    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      waves: "1,50%,100%",
      maxParallel: "100%",
      soak: "1h",
    });
    await e.until(
      rollout.id,
      "canary done and soaking",
      (r, rows) => rows[0]!.o === "ok" && r.soakStartedAt !== undefined,
    );
    const paused = await e.client.call("rollouts.pause", {
      id: rollout.id,
      reason: "watching",
      actor: "bob",
    });
    expect(paused.rollout).toMatchObject({ state: "paused", reason: "watching" });
    await expect(e.client.call("rollouts.pause", { id: rollout.id })).rejects.toThrow(
      /only a running rollout/,
    );
    // Promote resumes and skips the soak: wave 2 goes.
    await e.client.call("rollouts.promote", { id: rollout.id, actor: "bob" });
    await e.until(
      rollout.id,
      "wave 2 done",
      (r, rows) => r.wave === 1 && rows.filter((x) => x.o === "ok").length === 3,
    );
    expect(e.nodes.map(version)).toEqual(["2.0.0", "2.0.0", "2.0.0", "1.0.0", "1.0.0"]);

    await e.client.call("rollouts.abort", { id: rollout.id, actor: "bob" });
    const end = await e.until(rollout.id, "aborted", (r) => r.state === "aborted");
    expect(end.reason).toBe("aborted by bob; 3 nodes reverted");
    expect(e.nodes.map(version)).toEqual(["1.0.0", "1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
    const live = (await e.client.list("inventory")).map((x) => [
      x.value.nodeId,
      x.value.backends.find((b) => b.name === "cpu-foo")?.generation,
    ]);
    expect(live.sort()).toEqual([
      ["n1", "g1"],
      ["n2", "g1"],
      ["n3", "g1"],
      ["n4", "g1"],
      ["n5", "g1"],
    ]);
    const reverts = (await e.ops()).filter((o) => o.kind === "rollback");
    expect(reverts.map((o) => o.id).sort()).toEqual([
      `${rollout.id}-r0`,
      `${rollout.id}-r1`,
      `${rollout.id}-r2`,
    ]);
    const dismissed = await e.client.call("rollouts.dismiss", { id: rollout.id });
    expect(dismissed.rollout.dismissed).toBe(true);
    expect((await e.client.call("rollouts.list", {})).rollouts).toEqual([]);
    expect((await e.client.call("rollouts.list", { all: true })).rollouts).toHaveLength(1);
    const events = (await e.client.call("ops.history", { limit: 200 })).events.map((x) => x.kind);
    expect(events).toEqual(
      expect.arrayContaining([
        "rollout.created",
        "rollout.paused",
        "rollout.promoted",
        "rollout.aborted",
        "rollout.node.reverted",
        "rollout.ended",
      ]),
    );
  });

  it("targets only the nodes a label selector matches", async () => {
    const e = await env(4, { labels: (i) => (i % 2 ? { gpu: "h100" } : { gpu: "a100" }) });
    await waitFor("labels seen", () =>
      [...e.leader.ctl.view.nodeRecords().values()].every((n) => n.last.labels.gpu),
    );
    await expect(
      e.client.call("rollouts.plan", { backend: "foo", selector: "gpu in (h100" }),
    ).rejects.toThrow(/unclosed/);
    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      selector: "gpu=h100",
      waves: "100%",
      maxParallel: "100%",
      soak: "0s",
    });
    expect(rollout.targeting).toEqual({ kind: "selector", selector: "gpu=h100" });
    await e.until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(e.nodes.map(version)).toEqual(["2.0.0", "1.0.0", "2.0.0", "1.0.0"]);
  });

  it("a leader killed mid-rollout: the next one finishes it, with no op admitted twice", async () => {
    const e = await env(5, { replicas: 2, idle: ["n3"] });
    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      waves: "1,100%",
      maxParallel: "1",
      soak: "0s",
    });
    await e.until(rollout.id, "stuck on n3", (_r, rows) => rows[2]!.o === "run");
    await e.leader.crash();
    const next = await waitLeader(e.replicas.filter((x) => x !== e.leader));
    expect(next).not.toBe(e.leader);
    await e.nodes[2]!.consume();
    const done = await e.until(rollout.id, "succeeded", (r) => r.state === "succeeded");
    expect(done.reason).toBe("5 nodes upgraded");
    const ops = (await e.ops()).filter((o) => o.requestedBy === `rollout ${rollout.id}`);
    expect(ops.map((o) => o.nodeId).sort()).toEqual(["n1", "n2", "n3", "n4", "n5"]);
    for (const n of e.nodes) expect(n.ran).toHaveLength(1);
    expect(done.actions.some((a) => a.by === "rollouts@ctl-1")).toBe(true);
  });

  it("is served over HTTP too", async () => {
    const token = "rollout-test-token";
    const e = await env(2, { httpToken: token });
    const http = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${e.leader.ctl.httpUrl}${path}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return {
        status: res.status,
        json: (await res.json()) as { ok: boolean; data: never; error?: { field?: string } },
      };
    };
    const plan = await http("POST", "/api/rollouts/plan", { backend: "foo", waves: "1,100%" });
    expect(plan.status).toBe(200);
    expect((plan.json.data as { plan: { waves: unknown[] } }).plan.waves).toHaveLength(2);
    const bad = await http("POST", "/api/rollouts/plan", { backend: "foo", waves: "50%,10%" });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.field).toBe("waves");
    const started = await http("POST", "/api/rollouts", { backend: "foo", waves: "1,100%", soak: "1h" });
    const id = (started.json.data as { rollout: Rollout }).rollout.id;
    await e.until(id, "soaking after the canary", (r) => r.soakStartedAt !== undefined);
    const paused = await http("POST", `/api/rollouts/${id}/pause`, {});
    expect((paused.json.data as { rollout: Rollout }).rollout.state).toBe("paused");
    const got = await http("GET", `/api/rollouts/${id}`);
    expect((got.json.data as { nodes: RolloutNode[] }).nodes.map((x) => x.o)).toEqual(["ok", "wait"]);
    const list = await http("GET", "/api/rollouts");
    expect((list.json.data as { rollouts: Rollout[] }).rollouts.map((r) => r.id)).toEqual([id]);
  });
});
