import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { Audit } from "../../src/controller/audit.js";
import { ClaimStore } from "../../src/controller/claims.js";
import { Operations } from "../../src/controller/operations.js";
import { ClusterView } from "../../src/controller/view.js";
import { WorkQueue } from "../../src/client/index.js";
import { opKey, type InstalledBackend, type OpRecord } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { catalogOf, entry, inventory, node } from "./facts.js";
import {
  connect,
  controllerSuite,
  startReplica,
  testTelemetry,
  uniquePrefix,
  waitLeader,
  type Replica,
} from "./cluster.js";
import { FakeNode, type Behaviour } from "./fake-node.js";

const GALLERY = `
- &foo
  name: foo
  alias: foo
  capabilities:
    default: cpu-foo
    nvidia: cuda12-foo
- !!merge <<: *foo
  name: cpu-foo
  uri: 127.0.0.1:5999/foo:cpu
- !!merge <<: *foo
  name: cuda12-foo
  uri: 127.0.0.1:5999/foo:cuda12
- name: gpu-only
  capabilities:
    nvidia: cuda12-foo
- name: bar
  uri: 127.0.0.1:5999/bar:latest
`;

const suite = controllerSuite("ops", { gallery: GALLERY });

interface Env {
  prefix: string;
  client: ClusterClient;
  replicas: Replica[];
  node(
    id: string,
    o?: {
      capability?: string;
      behave?: (op: OpRecord) => Behaviour;
      work?: boolean;
      backends?: InstalledBackend[];
    },
  ): Promise<FakeNode>;
  op(nodeId: string, opId: string): Promise<OpRecord | undefined>;
}

async function env(replicas = 1): Promise<Env> {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const rs: Replica[] = [];
  for (let i = 0; i < replicas; i++) {
    const r = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath, id: `ctl-${i}` });
    rs.push(r);
    suite.defer(() => r.stop());
  }
  await waitLeader(rs);
  return {
    prefix,
    client,
    replicas: rs,
    async node(id, o = {}) {
      const n = new FakeNode(client, {
        nodeId: id,
        capability: o.capability,
        behave: o.behave,
        backends: o.backends,
      });
      await n.start({ work: o.work ?? true });
      suite.defer(() => n.stop());
      await waitFor(`node ${id} registered`, () => client.get("nodes", id));
      return n;
    },
    async op(nodeId, opId) {
      return (await client.get("ops", opKey(nodeId, opId)))?.value;
    },
  };
}

describe("seed 003: asynchronous per-node installs", () => {
  it("install on one node returns at once with an op id, before the work is done", async () => {
    const e = await env();
    const n = await e.node("n1", { behave: () => "hang" });
    const r = await e.client.call("ops.install", { backend: "foo", nodes: ["n1"], actor: "alice" });
    expect(r.refused).toEqual([]);
    expect(r.admitted).toEqual([
      { nodeId: "n1", opId: expect.stringMatching(/^op-/), existing: false, concrete: "cpu-foo" },
    ]);
    const op = (await e.op("n1", r.admitted[0]!.opId))!;
    expect(["queued", "running"]).toContain(op.state);
    expect(op).toMatchObject({
      kind: "install",
      backend: "foo",
      requestedBy: "alice",
      attempts: expect.any(Number),
      dismissed: false,
    });
    expect(op.target).toMatchObject({
      name: "cpu-foo",
      meta: "foo",
      uri: "127.0.0.1:5999/foo:cpu",
      alias: "foo",
    });
    await waitFor("running", async () => (await e.op("n1", op.id))?.state === "running");
    n.release(op.id);
    await waitFor("op settled", async () => (await e.op("n1", op.id))?.state === "cancelled");
  });

  it("an op records what the node had when it was admitted (from), so it can say from → to", async () => {
    const e = await env();
    const digest = `sha256:${"e".repeat(64)}`;
    await e.node("n1", {
      behave: () => "hang",
      backends: [
        {
          name: "cpu-foo",
          metadata: { name: "cpu-foo", version: "1.0.0", digest },
          isMeta: false,
          generation: "g1",
          previousGenerations: [],
        },
        {
          name: "foo",
          metadata: { name: "foo", meta_backend_for: "cpu-foo" },
          isMeta: true,
          generation: null,
          previousGenerations: [],
        },
      ],
    });
    await e.node("n2", { behave: () => "hang" });
    const r = await e.client.call("ops.install", { backend: "foo", nodes: ["n1", "n2"] });
    const [on1, on2] = r.admitted;
    expect((await e.op("n1", on1!.opId))?.from).toEqual({ version: "1.0.0", digest });
    expect((await e.op("n2", on2!.opId))?.from).toBeUndefined();
  });

  it("a rollback to a chosen generation carries it on the op; one the node does not keep is refused", async () => {
    const e = await env();
    await e.node("n1", {
      behave: () => "hang",
      backends: [
        {
          name: "cpu-foo",
          metadata: { name: "cpu-foo", version: "3" },
          isMeta: false,
          generation: "g3",
          previousGenerations: ["g2", "g1"],
        },
      ],
    });
    const bad = await e.client.call("ops.rollback", { backend: "cpu-foo", nodes: ["n1"], generation: "g0" });
    expect(bad.admitted).toEqual([]);
    expect(bad.refused).toEqual([
      { nodeId: "n1", error: "node n1 keeps no generation g0 of cpu-foo (kept: g2, g1)" },
    ]);
    const r = await e.client.call("ops.rollback", { backend: "cpu-foo", nodes: ["n1"], generation: "g1" });
    expect(r.refused).toEqual([]);
    expect(await e.op("n1", r.admitted[0]!.opId)).toMatchObject({ kind: "rollback", generation: "g1" });
  });

  it("installs of the same backend on two nodes at once are two independent ops", async () => {
    const e = await env();
    await e.node("n1");
    await e.node("n2", { capability: "nvidia", behave: () => "fail" });
    const [a, b] = await Promise.all([
      e.client.call("ops.install", { backend: "foo", nodes: ["n1"] }),
      e.client.call("ops.install", { backend: "foo", nodes: ["n2"] }),
    ]);
    const opA = a.admitted[0]!;
    const opB = b.admitted[0]!;
    expect(opA.opId).not.toBe(opB.opId);
    expect([opA.concrete, opB.concrete]).toEqual(["cpu-foo", "cuda12-foo"]);
    await waitFor("both settled", async () => {
      const [x, y] = [await e.op("n1", opA.opId), await e.op("n2", opB.opId)];
      return x?.state === "succeeded" && y?.state === "failed" ? [x, y] : null;
    });
  });

  it("a backend that does not resolve on the target node is refused with the reason", async () => {
    const e = await env();
    await e.node("n1");
    const concrete = await e.client.call("ops.install", { backend: "cuda12-foo", nodes: ["n1"] });
    expect(concrete.admitted).toEqual([]);
    expect(concrete.refused).toEqual([
      { nodeId: "n1", error: "cuda12-foo needs an nvidia node; this node's capability is default (node n1)" },
    ]);
    const meta = await e.client.call("ops.install", { backend: "gpu-only", nodes: ["n1"] });
    expect(meta.refused[0]!.error).toMatch(
      /^gpu-only: no build for capability default \(and no default or cpu build\); it has: nvidia/,
    );
    expect(await e.client.keys("ops")).toEqual([]);
  });

  it("duplicate requests give one op, across replicas", async () => {
    const e = await env(2);
    const n = await e.node("n1", { behave: () => "hang" });
    const replies = await Promise.all(
      Array.from({ length: 12 }, () => e.client.call("ops.install", { backend: "foo", nodes: ["n1"] })),
    );
    const ids = new Set(replies.map((r) => r.admitted[0]!.opId));
    expect(ids.size).toBe(1);
    expect(replies.filter((r) => !r.admitted[0]!.existing)).toHaveLength(1);
    expect(await e.client.keys("ops")).toEqual([opKey("n1", [...ids][0]!)]);
    n.release([...ids][0]!);
  });

  it("two replicas admitting the same (node, backend) at the same instant make one op", async () => {
    const e = await env(2);
    const [a, b] = e.replicas.map((r) => r.ctl);
    const nodes = ["r1", "r2", "r3", "r4", "r5", "r6"];
    for (const id of nodes) await e.node(id, { work: false });
    for (const backend of ["foo", "bar"]) {
      const replies = await Promise.all(
        nodes.flatMap((id) => [
          a!.ops.admit({ kind: "install", backend, nodes: [id], actor: "a" }),
          b!.ops.admit({ kind: "install", backend, nodes: [id], actor: "b" }),
        ]),
      );
      for (let i = 0; i < nodes.length; i++) {
        const [x, y] = [replies[2 * i]!.admitted[0]!, replies[2 * i + 1]!.admitted[0]!];
        expect(x.opId).toBe(y.opId);
        expect([x.existing, y.existing].sort()).toEqual([false, true]);
      }
    }
    expect(await e.client.keys("ops")).toHaveLength(nodes.length * 2);
  });

  it("a claim left by an admitter that died before writing its op is taken over once stale", async () => {
    const e = await env();
    await e.node("n1", { work: false });
    const { Kvm } = await import("@nats-io/kv");
    const claims = await new Kvm(e.client.nc).open(`${e.prefix}_ops_claims`);
    const { ClaimStore } = await import("../../src/controller/claims.js");
    await claims.create(
      ClaimStore.key("n1", "bar"),
      JSON.stringify({ v: 1, opId: "op-ghost", at: Date.now(), by: "dead" }),
    );
    const r = await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] });
    expect(r.admitted).toEqual([expect.objectContaining({ nodeId: "n1", existing: false })]);
    expect(r.admitted[0]!.opId).not.toBe("op-ghost");
  });

  it("refuses an unknown backend or node with a clear error", async () => {
    const e = await env();
    await e.node("n1");
    await expect(e.client.call("ops.install", { backend: "nope", nodes: ["n1"] })).rejects.toMatchObject({
      code: "not_found",
      field: "backend",
      message: "unknown backend nope: not in any gallery",
    });
    const r = await e.client.call("ops.install", { backend: "foo", nodes: ["ghost", "n1"] });
    expect(r.refused).toEqual([{ nodeId: "ghost", error: "unknown node ghost" }]);
    expect(r.admitted.map((x) => x.nodeId)).toEqual(["n1"]);
  });
});

describe("seed 002: ops that finish, fail, stall or are orphaned", () => {
  it("a completed op leaves the active list without anyone polling it", async () => {
    const e = await env();
    await e.node("n1");
    const { admitted } = await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] });
    const opId = admitted[0]!.opId;
    await waitFor("succeeded", async () => (await e.op("n1", opId))?.state === "succeeded");
    expect((await e.client.call("ops.list", {})).ops.map((o) => o.id)).not.toContain(opId);
    expect((await e.client.call("ops.list", { all: true })).ops.map((o) => o.id)).toContain(opId);
    const outcome = await waitFor("outcome in history", async () =>
      (await e.client.call("ops.history", { nodeId: "n1" })).events.find(
        (ev) => ev.kind === "op.state" && ev.opId === opId,
      ),
    );
    expect(outcome).toMatchObject({ actor: "node:n1", backend: "bar", op: { state: "succeeded" } });
    expect(outcome.message).toMatch(/succeeded$/);
    const history = await e.client.call("ops.history", { nodeId: "n1" });
    // The admission event names the op; the record (and each later event) holds its facts.
    expect(history.events.find((ev) => ev.kind === "op.created" && ev.opId === opId)).toMatchObject({
      nodeId: "n1",
      backend: "bar",
      message: "install queued",
    });
    // Newest first.
    expect(history.events.findIndex((ev) => ev.kind === "op.state")).toBeLessThan(
      history.events.findIndex((ev) => ev.kind === "op.created"),
    );
  });

  it("failed ops stay in the active list until dismissed, then remain in history; retry re-queues", async () => {
    const e = await env();
    let attempt = 0;
    await e.node("n1", { behave: () => (attempt++ === 0 ? "fail" : "succeed") });
    const opId = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    await waitFor("failed", async () => (await e.op("n1", opId))?.state === "failed");
    const active = (await e.client.call("ops.list", {})).ops;
    expect(active.find((o) => o.id === opId)).toMatchObject({ state: "failed", error: "fake failure" });

    const retried = await e.client.call("ops.retry", { opId, actor: "bob" });
    expect(retried.op).toMatchObject({ state: "queued", dismissed: false });
    expect(retried.op.error).toBeUndefined();
    await waitFor("succeeded on retry", async () => (await e.op("n1", opId))?.state === "succeeded");
    expect((await e.op("n1", opId))!.attempts).toBe(2);
    await expect(e.client.call("ops.retry", { opId })).rejects.toMatchObject({ code: "conflict" });

    // A second failure, then dismissal.
    attempt = 0;
    const op2 = (await e.client.call("ops.reinstall", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    await waitFor("failed", async () => (await e.op("n1", op2))?.state === "failed");
    await expect(e.client.call("ops.dismiss", { opId: "op-unknown" })).rejects.toMatchObject({
      code: "not_found",
    });
    const d = await e.client.call("ops.dismiss", { opId: op2, actor: "bob" });
    expect(d.op.dismissed).toBe(true);
    expect((await e.client.call("ops.list", {})).ops.map((o) => o.id)).not.toContain(op2);
    expect((await e.client.call("ops.list", { all: true })).ops.find((o) => o.id === op2)?.dismissed).toBe(
      true,
    );
    const kinds = (await e.client.call("ops.history", { backend: "bar" })).events.map(
      (ev) => `${ev.kind}:${ev.actor}`,
    );
    expect(kinds).toEqual(expect.arrayContaining(["op.dismissed:bob", "op.retried:bob"]));
  });

  it("queued ops for a draining node are dropped at once, and their work is purged", async () => {
    const e = await env();
    await e.node("n1", { work: false });
    const opId = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    const work = new WorkQueue(e.client);
    expect((await work.pending("n1")).map((m) => m.opId)).toEqual([opId]);
    const drained = await e.client.call("nodes.drain", { nodeId: "n1", reason: "maintenance" });
    expect(drained.node.status).toBe("draining");
    expect(await e.op("n1", opId)).toMatchObject({
      state: "failed",
      error: "node n1 is draining; queued work dropped",
    });
    expect(await work.pending("n1")).toEqual([]);
    await expect(e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).resolves.toMatchObject({
      refused: [{ nodeId: "n1", error: "node n1 is draining" }],
    });
  });

  it("queued ops for an offline node wait out the grace window, then fail", async () => {
    const e = await env();
    const n = await e.node("n1", { work: false });
    const opId = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    n.stopHeartbeats();
    await waitFor(
      "offline",
      async () => (await e.client.get("nodes", "n1"))?.value.status === "offline",
      5_000,
    );
    expect((await e.op("n1", opId))!.state).toBe("queued");
    const failed = await waitFor(
      "reaped after grace",
      async () => {
        const op = await e.op("n1", opId);
        return op?.state === "failed" ? op : null;
      },
      8_000,
    );
    expect(failed.error).toMatch(
      /^node n1 is offline and silent for \d+ s; gave up after the 2 s grace window$/,
    );
    await waitFor("work purged", async () => (await new WorkQueue(e.client).pending("n1")).length === 0);
    const reaped = (await e.client.call("ops.history", { nodeId: "n1" })).events.find(
      (ev) => ev.kind === "op.reaped",
    );
    expect(reaped?.opId).toBe(opId);
  });

  it("a cancel is persisted before it is signalled and survives a controller restart", async () => {
    const e = await env();
    const n = await e.node("n1", { behave: () => "hang" });
    // Deaf to signals at first, as if the controller died between persisting and signalling.
    n.deaf = true;
    const opId = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    await waitFor("running", async () => (await e.op("n1", opId))?.state === "running");
    const c = await e.client.call("ops.cancel", { opId, actor: "carol" });
    expect(c.op.state).toBe("cancelling");
    expect((await e.op("n1", opId))!.state).toBe("cancelling");

    await e.replicas[0]!.crash();
    expect((await e.op("n1", opId))!.state).toBe("cancelling");
    // The node hears signals again; the new controller re-sends the cancel for the persisted state.
    n.deaf = false;
    const r2 = await startReplica(suite.nats.url, e.prefix, {
      galleryPath: suite.galleryPath,
      id: "ctl-new",
    });
    suite.defer(() => r2.stop());
    await waitFor("cancelled", async () => (await e.op("n1", opId))?.state === "cancelled", 8_000);
    const cancelEv = (await e.client.call("ops.history", { nodeId: "n1" })).events.find(
      (ev) => ev.kind === "op.cancel",
    );
    expect(cancelEv).toMatchObject({ actor: "carol", message: "running -> cancelling" });
  });

  it("an op the view has not seen is read once by a key filter, and can still be changed", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    const ops = new Operations({
      client,
      view: new ClusterView(client), // never started, so it knows no op
      claims: await ClaimStore.open(client, "test"),
      work: new WorkQueue(client),
      audit: new Audit(client, testTelemetry()),
      catalog: () => {
        throw new Error("not used");
      },
      telemetry: testTelemetry(),
    });
    const now = Date.now();
    const key = opKey("n1", "op-unseen");
    await client.create("ops", key, {
      v: 1,
      id: "op-unseen",
      nodeId: "n1",
      kind: "install",
      backend: "bar",
      state: "failed",
      requestedBy: "test",
      createdAt: now,
      updatedAt: now,
      finishedAt: now,
      attempts: 1,
      dismissed: false,
    });
    expect(await ops.getOp("op-unseen")).toEqual({ key, ...(await client.get("ops", key)) });
    expect((await ops.dismiss("op-unseen", "test")).dismissed).toBe(true);
    expect(await ops.getOp("op-unseen")).toEqual({ key, ...(await client.get("ops", key)) });
    expect((await client.get("ops", key))?.value.dismissed).toBe(true);
    await expect(ops.getOp("op-none")).rejects.toMatchObject({ code: "not_found" });
  });

  it("a node the view learns while admission waits for it to catch up is admitted, not unknown", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    /** A lagging view: it learns n1 only while admission waits for it to be current. */
    class CatchingUp extends ClusterView {
      override current(): Promise<boolean> {
        this.records.nodes.set("n1", { value: node("n1"), revision: 1 });
        this.records.inventory.set("n1", { value: inventory("n1", []), revision: 1 });
        return Promise.resolve(true);
      }
    }
    const ops = new Operations({
      client,
      view: new CatchingUp(client),
      claims: await ClaimStore.open(client, "test"),
      work: new WorkQueue(client),
      audit: new Audit(client, testTelemetry()),
      catalog: () => catalogOf(entry("bar", { uri: "127.0.0.1:5999/bar:latest" })),
      telemetry: testTelemetry(),
    });
    const r = await ops.admit({ kind: "install", backend: "bar", nodes: ["n1"], actor: "test" });
    expect(r.refused).toEqual([]);
    expect(r.admitted.map((a) => a.nodeId)).toEqual(["n1"]);
  });

  it("ending an op for the reaper reads its state at the write: a cancel asked for meanwhile ends cancelled", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    const ops = new Operations({
      client,
      view: new ClusterView(client),
      claims: await ClaimStore.open(client, "test"),
      work: new WorkQueue(client),
      audit: new Audit(client, testTelemetry()),
      catalog: () => {
        throw new Error("not used");
      },
      telemetry: testTelemetry(),
    });
    const now = Date.now();
    const record = (id: string, state: OpRecord["state"]): OpRecord => ({
      v: 1,
      id,
      nodeId: "n1",
      kind: "install",
      backend: id,
      state,
      requestedBy: "test",
      createdAt: now,
      updatedAt: now,
      attempts: 1,
      dismissed: false,
    });
    // Planned as a stale running op; the user's cancel landed before the reaper's write.
    for (const [id, state] of [
      ["op-cancelling", "cancelling"],
      ["op-running", "running"],
      ["op-done", "succeeded"],
    ] as const) {
      await client.create("ops", opKey("n1", id), record(id, state));
    }
    expect(await ops.end(opKey("n1", "op-cancelling"), "stale")).toMatchObject({
      state: "cancelled",
      error: "stale",
    });
    expect(await ops.end(opKey("n1", "op-running"), "stale")).toMatchObject({
      state: "failed",
      error: "stale",
    });
    expect(await ops.end(opKey("n1", "op-done"), "stale")).toBeNull();
    expect((await client.get("ops", opKey("n1", "op-done")))?.value.state).toBe("succeeded");
  });

  it("a queued op cancelled before it starts never runs, even after a restart", async () => {
    const e = await env();
    const n = await e.node("n1", { work: false });
    const opId = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!.opId;
    expect((await e.client.call("ops.cancel", { opId })).op.state).toBe("cancelled");
    await e.replicas[0]!.stop();
    const r2 = await startReplica(suite.nats.url, e.prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => r2.stop());
    await n.consume();
    const later = (await e.client.call("ops.install", { backend: "bar", nodes: ["n1"] })).admitted[0]!;
    expect(later.existing).toBe(false);
    await waitFor("later op ran", async () => (await e.op("n1", later.opId))?.state === "succeeded");
    expect(n.ran).toEqual([later.opId]);
    expect((await e.op("n1", opId))!.state).toBe("cancelled");
    await expect(e.client.call("ops.cancel", { opId })).rejects.toMatchObject({ code: "conflict" });
  });

  it("ops orphaned or left stale after the start-up pass are recovered by a scheduled pass", async () => {
    const e = await env();
    const n = await e.node("n1");
    // Joins the start-up pass if it is still running (concurrent callers share a pass): once this
    // returns, only the loop's schedule runs passes, so whatever recovers the ops below is one.
    await e.replicas[0]!.ctl.reaper.pass();
    const now = Date.now();
    const base = {
      v: 1 as const,
      nodeId: "n1",
      requestedBy: "ghost",
      attempts: 0,
      dismissed: false,
      createdAt: now,
    };
    // Admitted by a controller that died before publishing the work:
    const orphan: OpRecord = {
      ...base,
      id: "op-orphan",
      kind: "install",
      backend: "bar",
      state: "queued",
      updatedAt: now,
      target: { name: "bar", uri: "127.0.0.1:5999/bar:latest", mirrors: [] },
    };
    // Running on an agent that vanished long ago:
    const stale: OpRecord = {
      ...base,
      id: "op-stale",
      kind: "install",
      backend: "foo",
      state: "running",
      updatedAt: now - 120_000,
    };
    await e.client.create("ops", opKey("n1", orphan.id), orphan);
    await e.client.create("ops", opKey("n1", stale.id), stale);
    await waitFor("stale op failed", async () => (await e.op("n1", stale.id))?.state === "failed");
    const s = (await e.op("n1", stale.id))!;
    expect(s.state).toBe("failed");
    expect(s.error).toMatch(/^stale: no update for \d+ (s|min)$/);
    await waitFor("orphan run", async () => (await e.op("n1", orphan.id))?.state === "succeeded");
    expect(n.ran).toContain(orphan.id);
    await waitFor("both in history", async () => {
      const ev = (await e.client.call("ops.history", { nodeId: "n1" })).events.map(
        (x) => `${x.kind}:${x.opId}`,
      );
      return ev.includes("op.retried:op-orphan") && ev.includes("op.reaped:op-stale");
    });
  });
});
