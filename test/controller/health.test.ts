import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { encode, type Heartbeat, type NodeRecord, type NodeStatus } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { heartbeat } from "./facts.js";
import { FakeNode } from "./fake-node.js";

const suite = controllerSuite("health");

async function setup(requireApproval = false) {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const r = await startReplica(suite.nats.url, prefix, { requireApproval });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const node = async (id: string) => {
    const n = new FakeNode(client, { nodeId: id, heartbeatMs: 100 });
    await n.start({ work: false });
    suite.defer(() => n.stop());
    return n;
  };
  return { client, node, r };
}

/** Record every status a node goes through, from its KV watch. */
function statuses(client: ClusterClient, id: string): NodeStatus[] {
  const seen: NodeStatus[] = [];
  const w = client.watch("nodes", (e) => {
    if (e.type === "put" && e.key === id && seen.at(-1) !== e.value.status) seen.push(e.value.status);
  });
  suite.defer(async () => w.stop());
  return seen;
}

const status = async (client: ClusterClient, id: string) => (await client.get("nodes", id))?.value.status;

describe("node health (leader-gated, heartbeats every 100 ms in this test)", () => {
  it("first heartbeat -> healthy; 3 missed -> unhealthy; long silence -> offline; fresh heartbeat -> healthy", async () => {
    const { client, node } = await setup();
    const seen = statuses(client, "n1");
    const n = await node("n1");
    await waitFor("healthy", async () => (await status(client, "n1")) === "healthy");
    const rec = (await client.get("nodes", "n1"))!.value;
    expect(rec).toMatchObject({
      approved: true,
      statusReason: "first heartbeat",
      last: { capability: "default", agentVersion: "fake" },
    });
    n.stopHeartbeats();
    await waitFor("offline", async () => (await status(client, "n1")) === "offline", 5_000);
    n.startHeartbeats();
    await waitFor("healthy again", async () => (await status(client, "n1")) === "healthy");
    expect(seen).toEqual(["healthy", "unhealthy", "offline", "healthy"]);
    const reasons = (await client.call("ops.history", { nodeId: "n1" })).events
      .filter((e) => e.kind === "node.status")
      .map((e) => e.message)
      .reverse();
    expect(reasons).toEqual([
      "new -> healthy: first heartbeat",
      "healthy -> unhealthy: missed 3 heartbeats",
      expect.stringMatching(/^unhealthy -> offline: no heartbeat for \d+ s$/),
      "offline -> healthy: heartbeat resumed (was offline)",
    ]);
  });

  it("with --require-approval a new node waits in pending through heartbeats and silence until approved", async () => {
    const { client, node } = await setup(true);
    const n = await node("n1");
    const control = await node("c1");
    await waitFor("pending", async () => (await status(client, "n1")) === "pending");
    await waitFor("control pending", async () => (await status(client, "c1")) === "pending");
    await client.call("nodes.approve", { nodeId: "c1" });
    n.stopHeartbeats();
    control.stopHeartbeats();
    // The approved control node going offline proves the monitor looked past the threshold.
    await waitFor("control offline", async () => (await status(client, "c1")) === "offline", 5_000);
    expect(await status(client, "n1")).toBe("pending");
    n.startHeartbeats();
    const a = await client.call("nodes.approve", { nodeId: "n1", actor: "admin" });
    expect(a.node).toMatchObject({ status: "healthy", approved: true });
  });

  it("a draining node stays draining through heartbeats and silence; resume returns it by heartbeat age", async () => {
    const { client, node } = await setup();
    const n = await node("n1");
    const control = await node("c1");
    await waitFor("healthy", async () => (await status(client, "n1")) === "healthy");
    await client.call("nodes.drain", { nodeId: "n1", reason: "kernel update" });
    const rec = (await client.get("nodes", "n1"))!;
    await waitFor(
      "heartbeats keep landing",
      async () => (await client.get("nodes", "n1"))!.value.lastHeartbeatAt > rec.value.lastHeartbeatAt,
    );
    expect(await status(client, "n1")).toBe("draining");
    n.stopHeartbeats();
    control.stopHeartbeats();
    await waitFor("control offline", async () => (await status(client, "c1")) === "offline", 5_000);
    expect(await status(client, "n1")).toBe("draining");
    const r = await client.call("nodes.resume", { nodeId: "n1" });
    expect(r.node.status).toBe("offline");
    n.startHeartbeats();
    await waitFor("healthy", async () => (await status(client, "n1")) === "healthy");
  });

  it("drops malformed heartbeats and heartbeats sent on another node's subject", async () => {
    const { client, node } = await setup();
    client.nc.publish(client.subjects.heartbeat("junk"), "not json");
    client.nc.publish(client.subjects.heartbeat("junk"), encode({ v: 1, nodeId: "junk" }));
    const hb = heartbeat("victim");
    client.nc.publish(client.subjects.heartbeat("impostor"), encode({ ...hb, nodeId: "victim" }));
    await node("n2");
    await waitFor("n2 healthy", async () => (await status(client, "n2")) === "healthy");
    // n2's heartbeats were handled after the bad ones (one subscription, in order).
    expect(await client.keys("nodes")).toEqual(["n2"]);
  });
});

describe("heartbeats coalesced into node record writes", () => {
  it("a healthy node's repeated heartbeats are not written; a label change, a drain and a resume are, at once", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    // A refresh (60 s) and an unhealthy threshold (16 s) far beyond this test: every write seen
    // comes from a change.
    const r = await startReplica(suite.nats.url, prefix, {
      timings: { health: { heartbeatIntervalMs: 5_000, slackMs: 1_000, offlineAfterMs: 120_000 } },
    });
    suite.defer(() => r.stop());
    await waitLeader([r]);
    const puts: NodeRecord[] = [];
    const w = client.watch("nodes", (e) => {
      if (e.type === "put" && e.key === "n1") puts.push(e.value);
    });
    suite.defer(async () => w.stop());
    let sentAt = Date.now();
    const beat = (over: Partial<Heartbeat> = {}) => {
      const hb = heartbeat("n1", { sentAt: ++sentAt, ...over });
      client.publishHeartbeat(hb);
      return hb.sentAt;
    };
    /** Heartbeats are handled in order: once the watch shows `sentAt`, every earlier one was. */
    const seen = (at: number) =>
      waitFor(`the record of heartbeat ${at}`, () => puts.at(-1)?.last.sentAt === at);

    // The leader's heartbeat subscription may not have reached the server yet: beat until the
    // first record appears, as an agent would every interval (an unchanged beat writes nothing).
    await waitFor("the first record", () => {
      if (puts.length > 0) return true;
      beat();
      return false;
    });
    for (let i = 0; i < 20; i++) beat();
    await seen(beat({ labels: { rack: "r2" } }));
    expect(puts.map((p) => [p.status, p.last.labels])).toEqual([
      ["healthy", {}],
      ["healthy", { rack: "r2" }],
    ]);

    await client.call("nodes.drain", { nodeId: "n1" });
    // A draining node's record keeps every heartbeat's time (resume judges its silence from it).
    const drained = [beat({ labels: { rack: "r2" } }), beat({ labels: { rack: "r2" } })];
    await seen(drained[1]!);
    await client.call("nodes.resume", { nodeId: "n1" });
    for (let i = 0; i < 20; i++) beat({ labels: { rack: "r2" } });
    await seen(beat({ labels: { rack: "r3" } }));
    expect(puts.map((p) => p.status)).toEqual([
      "healthy",
      "healthy",
      "draining",
      "draining",
      "draining",
      "healthy",
      "healthy",
    ]);
    expect(puts.at(-1)!.last.labels).toEqual({ rack: "r3" });
  });

  it("a new leader does not take live nodes for silent because their records are older than the unhealthy threshold", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    // Records refreshed every 2 s; unhealthy after 450 ms of silence, offline after 3 s.
    const timings = {
      health: {
        heartbeatIntervalMs: 100,
        unhealthyAfterMissed: 3,
        slackMs: 150,
        offlineAfterMs: 3_000,
        recordRefreshMs: 2_000,
      },
    };
    const a = await startReplica(suite.nats.url, prefix, { id: "a", timings });
    suite.defer(() => a.stop());
    const b = await startReplica(suite.nats.url, prefix, { id: "b", timings });
    suite.defer(() => b.stop());
    const first = await waitLeader([a, b]);
    const ids = ["n1", "n2", "n3", "n4"];
    const seen = new Map(ids.map((id) => [id, statuses(client, id)]));
    const control = statuses(client, "c1");
    const nodes = new Map<string, FakeNode>();
    for (const id of [...ids, "c1"]) {
      const n = new FakeNode(client, { nodeId: id, heartbeatMs: 100 });
      await n.start({ work: false });
      suite.defer(() => n.stop());
      nodes.set(id, n);
    }
    await waitFor("all healthy", async () =>
      (await Promise.all([...nodes.keys()].map((id) => status(client, id)))).every((s) => s === "healthy"),
    );
    // The leader dies without a word; its records of the live nodes are up to 2 s old when the
    // other takes over (the lease lasts 1.5 s), well past the 450 ms unhealthy threshold.
    await first.crash();
    await waitLeader(
      [a, b].filter((r) => r !== first),
      10_000,
    );
    nodes.get("c1")!.stopHeartbeats();
    // The control node going offline proves the new leader judged silence meanwhile.
    // Waited on the watch that collects `control` (a direct read can be ahead of it).
    await waitFor("control offline", () => control.at(-1) === "offline", 10_000);
    expect(control).toEqual(["healthy", "unhealthy", "offline"]);
    for (const id of ids) expect([id, seen.get(id)]).toEqual([id, ["healthy"]]);
  });
});
