import { describe, expect, it } from "vitest";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const suite = controllerSuite("admission-load", {
  gallery: "- name: bar\n  uri: 127.0.0.1:5999/bar:latest\n",
});

describe("one request cannot occupy a controller", () => {
  it("ops.install naming 9,999 unknown nodes (and one known) is refused from the mirror, without a read per node", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const r = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => r.stop());
    await waitLeader([r]);
    const n = new FakeNode(client, { nodeId: "n1" });
    await n.start();
    suite.defer(() => n.stop());
    await waitFor("n1 registered", () => client.get("nodes", "n1"));
    const ids = Array.from({ length: 9_999 }, (_, i) => `ghost-${i}`);
    const t0 = performance.now();
    const res = await client.call("ops.install", { backend: "bar", nodes: [...ids, "n1"] }, 30_000);
    const ms = performance.now() - t0;
    // The reply counts every refusal and lists the first (bounded whatever the request).
    expect(res.counts).toEqual({ admitted: 1, existing: 0, refused: 9_999 });
    expect(res.truncated).toBe(true);
    expect(res.refused[0]).toEqual({ nodeId: "ghost-0", error: "unknown node ghost-0" });
    expect(res.admitted.map((a) => a.nodeId)).toEqual(["n1"]);
    console.log(`ops.install with 9,999 unknown node ids: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1_500);
  });

  it("with a view that is not current, the unknown nodes are read concurrently", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const r = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => r.stop());
    await waitLeader([r]);
    // As after a reconnect, before the watches have caught up.
    r.ctl.view.current = () => Promise.resolve(false);
    const n = new FakeNode(client, { nodeId: "n1" });
    await n.start();
    suite.defer(() => n.stop());
    await waitFor("n1 registered", () => client.get("nodes", "n1"));
    const ids = Array.from({ length: 5_000 }, (_, i) => `ghost-${i}`);
    const t0 = performance.now();
    const res = await client.call("ops.install", { backend: "bar", nodes: [...ids, "n1"] }, 30_000);
    const ms = performance.now() - t0;
    expect(res.counts.refused).toBe(5_000);
    expect(res.admitted.map((a) => a.nodeId)).toEqual(["n1"]);
    console.log(`ops.install with 5,000 unknown node ids read directly: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1_500);
  });
});
