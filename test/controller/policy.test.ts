import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import type { AuditEvent, InstalledBackend, OpRecord } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader, type Replica } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const GALLERY = `
- &foo
  name: foo
  capabilities:
    default: cpu-foo
- name: cpu-foo
  uri: 127.0.0.1:5999/foo:cpu
  version: 2.0.0
`;

const suite = controllerSuite("policy", { gallery: GALLERY });

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
  nodes: FakeNode[];
  ops(): Promise<OpRecord[]>;
  /** The audit events of `kind`, once there are `n` of them. */
  events(kind: AuditEvent["kind"], n: number): Promise<AuditEvent[]>;
}

async function env(
  n: number,
  labels?: (i: number) => Record<string, string>,
  httpToken?: string,
): Promise<Env> {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const rep = await startReplica(suite.nats.url, prefix, {
    galleryPath: suite.galleryPath,
    id: "ctl-0",
    http: httpToken ? { listen: "127.0.0.1:0", token: httpToken } : undefined,
    timings: { rolloutIntervalMs: 50, health: { offlineAfterMs: 10_000 } },
  });
  suite.defer(() => rep.stop());
  const leader = await waitLeader([rep]);
  const nodes: FakeNode[] = [];
  for (let i = 1; i <= n; i++) {
    const node = new FakeNode(client, {
      nodeId: `n${i}`,
      backends: structuredClone(OLD),
      labels: labels?.(i),
    });
    await node.start();
    suite.defer(() => node.stop());
    nodes.push(node);
  }
  await waitFor("nodes registered and healthy", async () => {
    const all = await client.list("nodes");
    return all.length === n && all.every((x) => x.value.status === "healthy");
  });
  await waitFor("inventories seen", () => leader.ctl.view.inventories.size === n);
  return {
    client,
    leader,
    nodes,
    async ops() {
      return (await client.list("ops")).map((x) => x.value);
    },
    async events(kind, count) {
      let found: AuditEvent[] = [];
      await waitFor(`${count} ${kind} events`, async () => {
        const all = (await client.call("ops.history", { limit: 500 })).events;
        found = all.filter((x) => x.kind === kind);
        return found.length >= count;
      });
      return found;
    },
  };
}

const version = (n: FakeNode) => n.backends.find((b) => b.name === "cpu-foo")?.metadata.version;

describe("holds and pins (a real NATS server, fake nodes)", () => {
  it("hold, unhold, pin and unpin persist in the policy bucket, are listed, and are audited", async () => {
    const e = await env(2);
    const held = await e.client.call("nodes.hold", {
      nodeId: "n1",
      reason: "kernel debugging",
      actor: "alice",
    });
    expect(held.holds).toEqual([expect.objectContaining({ reason: "kernel debugging", by: "alice" })]);
    await e.client.call("nodes.hold", { nodeId: "n1", backend: "whisper", actor: "alice" });
    // Holding again replaces that hold's reason, it does not add one.
    const again = await e.client.call("nodes.hold", {
      nodeId: "n1",
      backend: "whisper",
      reason: "bad build",
      actor: "alice",
    });
    expect(again.holds.map((h) => [h.backend, h.reason])).toEqual([
      [undefined, "kernel debugging"],
      ["whisper", "bad build"],
    ]);
    await expect(e.client.call("nodes.hold", { nodeId: "nope" })).rejects.toThrow(/unknown node nope/);

    const stored = await e.client.get("policy", "hold.n1");
    expect(stored?.value).toMatchObject({ kind: "hold", nodeId: "n1" });
    expect(stored?.value.kind === "hold" && stored.value.holds).toHaveLength(2);

    const pinned = await e.client.call("backends.pin", {
      backend: "foo",
      version: "1.0.0",
      selector: "gpu=h100",
      reason: "2.0 leaks memory",
      actor: "bob",
    });
    expect(pinned.pin).toMatchObject({ backend: "foo", version: "1.0.0", selector: "gpu=h100", by: "bob" });
    await expect(
      e.client.call("backends.pin", { backend: "foo", version: "1.0.0", selector: "gpu in (a" }),
    ).rejects.toThrow(/unclosed/);
    await expect(e.client.call("backends.pin", { backend: "bar", version: "1.0.0" })).rejects.toThrow(
      /unknown backend bar/,
    );
    expect((await e.client.get("policy", "pin.foo"))?.value).toMatchObject({ kind: "pin", version: "1.0.0" });

    const listed = await e.client.call("policy.list", {});
    expect(listed.holds.map((h) => h.nodeId)).toEqual(["n1"]);
    expect(listed.pins.map((p) => [p.backend, p.version])).toEqual([["foo", "1.0.0"]]);
    expect((await e.client.call("nodes.list", {})).holds.map((h) => h.nodeId)).toEqual(["n1"]);

    const partly = await e.client.call("nodes.unhold", { nodeId: "n1", backend: "whisper", actor: "alice" });
    expect(partly.holds.map((h) => h.backend)).toEqual([undefined]);
    const none = await e.client.call("nodes.unhold", { nodeId: "n1", actor: "alice" });
    expect(none.holds).toEqual([]);
    expect(await e.client.get("policy", "hold.n1")).toBeNull();
    // Nothing held: no error, nothing audited.
    expect((await e.client.call("nodes.unhold", { nodeId: "n2" })).holds).toEqual([]);

    expect((await e.client.call("backends.unpin", { backend: "foo", actor: "bob" })).pin?.version).toBe(
      "1.0.0",
    );
    expect((await e.client.call("backends.unpin", { backend: "foo" })).pin).toBeNull();
    expect(await e.client.get("policy", "pin.foo")).toBeNull();

    const holds = await e.events("node.hold", 3);
    expect(holds.map((x) => [x.nodeId, x.backend, x.actor, x.message])).toContainEqual([
      "n1",
      undefined,
      "alice",
      "held for every backend: kernel debugging",
    ]);
    const unholds = await e.events("node.unhold", 2);
    expect(unholds.map((x) => x.message).sort()).toEqual([
      "released its hold",
      "released the hold for whisper",
    ]);
    expect((await e.events("backend.pin", 1))[0]).toMatchObject({
      backend: "foo",
      actor: "bob",
      message: "pinned to 1.0.0 on gpu=h100: 2.0 leaks memory",
    });
    expect((await e.events("backend.unpin", 1))[0]).toMatchObject({
      backend: "foo",
      message: "unpinned (was 1.0.0 on gpu=h100)",
    });
  });

  it("refuses a manual op on a held node, or past a pin, unless forced", async () => {
    const e = await env(3, (i) => ({ gpu: i === 3 ? "a100" : "h100" }));
    await e.client.call("nodes.hold", { nodeId: "n1", reason: "debugging" });
    await e.client.call("backends.pin", { backend: "foo", version: "1.0.0", selector: "gpu=h100" });
    await waitFor("the view has the policy", () => {
      const p = e.leader.ctl.view.policy;
      return p.holds.length === 1 && p.pins.length === 1;
    });
    await waitFor("labels seen", () =>
      [...e.leader.ctl.view.nodeRecords().values()].every((n) => n.last.labels.gpu),
    );

    const plain = await e.client.call("ops.upgrade", { backend: "foo" });
    expect(plain.refused).toEqual([
      { nodeId: "n1", error: "node n1 is held for every backend: debugging; force overrides it (--force)" },
      {
        nodeId: "n2",
        error: "foo is pinned to 1.0.0 on n2, not cpu-foo 2.0.0; force overrides it (--force)",
      },
    ]);
    // n3 is an a100: the pin's selector does not match it.
    expect(plain.admitted.map((a) => a.nodeId)).toEqual(["n3"]);
    const reinstall = await e.client.call("ops.reinstall", { backend: "foo", nodes: ["n1"] });
    expect(reinstall.refused.map((r) => r.nodeId)).toEqual(["n1"]);

    const forced = await e.client.call("ops.upgrade", { backend: "foo", nodes: ["n1", "n2"], force: true });
    expect(forced.refused).toEqual([]);
    expect(forced.admitted.map((a) => a.nodeId)).toEqual(["n1", "n2"]);
    await waitFor("every node upgraded", () => e.nodes.every((n) => version(n) === "2.0.0"));
  });

  it("rollouts plan and run around held nodes and pinned backends, saying why", async () => {
    const e = await env(4, (i) => ({ gpu: i === 4 ? "a100" : "h100" }));
    await waitFor("labels seen", () =>
      [...e.leader.ctl.view.nodeRecords().values()].every((n) => n.last.labels.gpu),
    );
    await e.client.call("nodes.hold", { nodeId: "n2", backend: "foo", reason: "customer demo" });
    await e.client.call("backends.pin", { backend: "foo", version: "1.0.0", selector: "gpu=a100" });
    await waitFor("the view has the policy", () => {
      const p = e.leader.ctl.view.policy;
      return p.holds.length === 1 && p.pins.length === 1;
    });

    const { plan } = await e.client.call("rollouts.plan", { backend: "foo", waves: "100%" });
    expect(plan.waves.map((w) => w.map((m) => m.nodeId))).toEqual([["n1", "n3"]]);
    expect(plan.skipped).toEqual([
      { nodeId: "n2", skip: "held", why: "node n2 is held for foo: customer demo" },
      { nodeId: "n4", skip: "pinned", why: "foo is pinned to 1.0.0 on n4" },
    ]);

    const { rollout } = await e.client.call("rollouts.start", {
      backend: "foo",
      waves: "100%",
      maxParallel: "100%",
      soak: "0s",
    });
    await waitFor("rollout succeeded", async () => {
      const g = await e.client.call("rollouts.get", { id: rollout.id });
      return g.rollout.state === "succeeded";
    });
    expect(e.nodes.map(version)).toEqual(["2.0.0", "1.0.0", "2.0.0", "1.0.0"]);
    const rows = (await e.client.call("rollouts.get", { id: rollout.id })).nodes;
    expect(rows.filter((r) => r.skip).map((r) => [r.node, r.skip])).toEqual([
      ["n2", "held"],
      ["n4", "pinned"],
    ]);
  });

  it("auto-upgrade leaves held nodes and pinned backends alone", async () => {
    const e = await env(3, (i) => ({ gpu: i === 3 ? "a100" : "h100" }));
    await waitFor("labels seen", () =>
      [...e.leader.ctl.view.nodeRecords().values()].every((n) => n.last.labels.gpu),
    );
    await e.client.call("nodes.hold", { nodeId: "n1", reason: "on call watching it" });
    await e.client.call("backends.pin", { backend: "foo", version: "1.0.0", selector: "gpu=a100" });
    await waitFor("the view has the policy", () => {
      const p = e.leader.ctl.view.policy;
      return p.holds.length === 1 && p.pins.length === 1;
    });
    await e.client.call("settings.set", { autoUpgrade: true });
    await waitFor("n2 upgraded by auto-upgrade", () => version(e.nodes[1]!) === "2.0.0", 20_000);
    // Whatever path auto-upgrade takes, n1 and n3 were decided with n2: none of them got an op.
    expect((await e.ops()).map((o) => o.nodeId)).toEqual(["n2"]);
    expect(e.nodes.map(version)).toEqual(["1.0.0", "2.0.0", "1.0.0"]);
  });

  it("is served over HTTP too", async () => {
    const token = "policy-test-token";
    const e = await env(1, undefined, token);
    const http = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${e.leader.ctl.httpUrl}${path}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as { ok: boolean; data: unknown } };
    };
    expect((await http("POST", "/api/nodes/n1/hold", { reason: "rma" })).status).toBe(200);
    expect((await http("POST", "/api/backends/pin/foo", { version: "1.0.0" })).status).toBe(200);
    const listed = await http("GET", "/api/policy");
    expect(listed.json.data).toMatchObject({
      holds: [{ nodeId: "n1", holds: [{ reason: "rma" }] }],
      pins: [{ backend: "foo", version: "1.0.0" }],
    });
    expect((await http("POST", "/api/nodes/n1/unhold", {})).json.data).toEqual({ nodeId: "n1", holds: [] });
    expect((await http("POST", "/api/backends/unpin/foo", {})).json.data).toMatchObject({
      backend: "foo",
      pin: { version: "1.0.0" },
    });
    expect((await http("GET", "/api/policy")).json.data).toEqual({
      holds: [],
      pins: [],
      heldNodes: 0,
      truncated: false,
    });
  });
});
