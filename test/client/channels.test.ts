import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditStream, ClusterClient, WorkQueue, type WorkMessage } from "../../src/client/index.js";
import type { CancelSignal, Heartbeat, ProgressEvent } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { waitFor } from "../harness/proc.js";

const progress = (over: Partial<ProgressEvent> = {}): ProgressEvent => ({
  v: 1,
  opId: "op-1",
  nodeId: "n1",
  backend: "llama-cpp",
  phase: "downloading",
  bytesDone: 1,
  bytesTotal: 2,
  bytesPerSec: 1,
  etaSec: 1,
  final: false,
  at: 1,
  ...over,
});

describe("the typed channels beside the KV facade", () => {
  let server: NatsServer;
  let c: ClusterClient;

  beforeAll(async () => {
    server = await NatsServer.start();
    c = await ClusterClient.connect({ servers: [server.url], name: "channels-test" });
  });
  afterAll(async () => {
    await c?.close();
    await server?.dispose();
  });

  it("progress, heartbeat and cancel publishes are validated like their subscriptions", async () => {
    const seen: ProgressEvent[] = [];
    const stop = c.onProgress((p) => seen.push(p));
    expect(() => c.publishProgress(progress({ nodeId: "bad node" }))).toThrow(/invalid message.*nodeId/);
    expect(() => c.publishHeartbeat({ v: 1, nodeId: "n1" } as Heartbeat)).toThrow(/invalid message/);
    expect(() => c.publishCancel({ v: 2, opId: "o", nodeId: "n1" } as unknown as CancelSignal)).toThrow(
      /invalid message.*v/,
    );
    c.publishProgress(progress({ bytesDone: 2 }));
    await waitFor("valid progress", () => seen.length === 1);
    expect(seen[0]).toMatchObject({ opId: "op-1", bytesDone: 2 });
    stop();
  });

  it("a node hears its own cancel signals, not one whose body names another node", async () => {
    const heard: CancelSignal[] = [];
    const stop = c.onCancel("n1", (s) => heard.push(s));
    c.publish(c.subjects.cancel("n1", "op-x"), { v: 1, opId: "op-x", nodeId: "n2" });
    c.publish(c.subjects.cancel("n1", "op-y"), "not json");
    c.publishCancel({ v: 1, opId: "op-2", nodeId: "n2" });
    c.publishCancel({ v: 1, opId: "op-1", nodeId: "n1" });
    await waitFor("own cancel", () => heard.length === 1);
    await c.request("nobody", {}, 100).catch(() => {}); // a round trip: anything sent before has arrived
    expect(heard).toEqual([{ v: 1, opId: "op-1", nodeId: "n1" }]);
    stop();
  });

  it("the work queue carries an item from producer to the node's consumer until it is acked", async () => {
    const q = new WorkQueue(c);
    await q.publish("w1", "op-a");
    await q.publish("w1", "op-a"); // deduplicated by message id
    await q.publish("w1", "op-b");
    expect((await q.pending("w1")).map((m) => m.opId)).toEqual(["op-a", "op-b"]);
    const got: WorkMessage[] = [];
    const deliveries = await q.consume("w1", { ackWaitMs: 30_000 });
    void (async () => {
      for await (const m of deliveries) got.push(m);
    })();
    await waitFor("two deliveries", () => got.length === 2);
    expect(got.map((m) => m.item.ok && m.item.value)).toEqual([
      { v: 1, opId: "op-a", nodeId: "w1" },
      { v: 1, opId: "op-b", nodeId: "w1" },
    ]);
    got[0]!.ack();
    await waitFor("op-a gone", async () => (await q.pending("w1")).length === 1);
    expect(await q.purge("w1", new Set(["op-b"]))).toBe(1);
    expect(await q.pending("w1")).toEqual([]);
    await deliveries.close();
  });

  it("the audit stream refuses an invalid event and reads valid ones back by node", async () => {
    const audit = new AuditStream(c);
    await audit.publish({ v: 1, kind: "op.created", at: 1, actor: "t", nodeId: "n1", opId: "o1" });
    await audit.publish({ v: 1, kind: "op.created", at: 2, actor: "t", nodeId: "n2", opId: "o2" });
    await expect(
      audit.publish({ v: 1, kind: "op.created", at: 3, actor: "t", nodeId: "bad node" }),
    ).rejects.toThrow(/invalid audit event/);
    const b = await audit.bounds();
    expect(b.messages).toBe(2);
    expect((await audit.read(b.first, b.last, "n1")).map((e) => e.opId)).toEqual(["o1"]);
  });
});
