import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { encode, type NodeStatus } from "../../src/protocol/index.js";
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
