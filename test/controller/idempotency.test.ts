import { describe, expect, it } from "vitest";
import { ApiCallError } from "../../src/client/api-client.js";
import { RequestDedupe } from "../../src/controller/request-dedupe.js";
import type { ApiEnvelope } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const suite = controllerSuite("idempotency", {
  gallery: `
- name: bar
  uri: 127.0.0.1:5999/bar:latest
`,
});

describe("keyed write requests (Idempotency-Key)", () => {
  it("a repeat with the same key gets the first reply, on another replica too, and is not applied again", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const a = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => a.stop());
    await waitLeader([a]);
    const b = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => b.stop());
    const node = new FakeNode(client, { nodeId: "n1", behave: () => "hang" });
    await node.start();
    suite.defer(() => node.stop());
    await waitFor("n1 registered", () => client.get("nodes", "n1"));

    const key = { idempotencyKey: "dash-k1-000001" };
    const first = await client.call("ops.install", { backend: "bar", nodes: ["n1"] }, undefined, key);
    expect(first.admitted).toEqual([expect.objectContaining({ nodeId: "n1", existing: false })]);
    // Whichever replica answers, the reply is the first one (a fresh request says `existing`).
    for (let i = 0; i < 4; i++)
      expect(await client.call("ops.install", { backend: "bar", nodes: ["n1"] }, undefined, key)).toEqual(
        first,
      );
    const unkeyed = await client.call("ops.install", { backend: "bar", nodes: ["n1"] });
    expect(unkeyed.admitted[0]).toMatchObject({ opId: first.admitted[0]!.opId, existing: true });
    // The replica that applied it gone, the other still answers from the requests bucket.
    await a.stop();
    expect(await client.call("ops.install", { backend: "bar", nodes: ["n1"] }, undefined, key)).toEqual(
      first,
    );

    // A repeat after the world moved on is answered, not applied: the node stays resumed.
    const drainKey = { idempotencyKey: "dash-k2-000001" };
    const drained = await client.call("nodes.drain", { nodeId: "n1" }, undefined, drainKey);
    expect(drained.node.status).toBe("draining");
    await client.call("nodes.resume", { nodeId: "n1" });
    expect(await client.call("nodes.drain", { nodeId: "n1" }, undefined, drainKey)).toEqual(drained);
    expect((await client.get("nodes", "n1"))!.value.status).not.toBe("draining");
  });

  it("refuses a malformed key and ignores a key on a read", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const a = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
    suite.defer(() => a.stop());
    await waitLeader([a]);
    const bad = await client
      .call("nodes.drain", { nodeId: "n9" }, undefined, { idempotencyKey: "no spaces!" })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiCallError);
    expect((bad as ApiCallError).code).toBe("bad_request");
    expect((bad as ApiCallError).field).toBe("Idempotency-Key");
    const key = { idempotencyKey: "read-k-0000001" };
    expect((await client.call("nodes.list", {}, undefined, key)).nodes).toEqual([]);
    expect(await client.get("requests", "nodes.list.read-k-0000001")).toBeNull();
  });
});

describe("claims of keyed requests across replicas", () => {
  const reply = (data: string): ApiEnvelope => ({ ok: true, data });

  it("a long request keeps its claim: another replica waits instead of applying it again", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    const a = new RequestDedupe(client, { holder: "a", abandonedAfterMs: 400 });
    const b = new RequestDedupe(client, { holder: "b", abandonedAfterMs: 400, waitMs: 50 });
    let finish!: () => void;
    const first = a.once(
      "ops.install",
      "k-long-0001",
      () => new Promise<ApiEnvelope>((r) => (finish = () => r(reply("first")))),
    );
    const key = "ops.install.k-long-0001";
    const claimed = await waitFor("claimed", () => client.get("requests", key));
    // Several abandonment periods go by while it applies; each renewal moves the claim on.
    await waitFor(
      "three renewals",
      async () => ((await client.get("requests", key))?.revision ?? 0) >= claimed.revision + 3,
    );
    let applied = 0;
    const repeat = await b.once("ops.install", "k-long-0001", async () => (applied++, reply("second")));
    expect(applied).toBe(0);
    expect(repeat).toMatchObject({ ok: false, error: { code: "unavailable" } });
    finish();
    expect(await first).toEqual(reply("first"));
    expect(await b.once("ops.install", "k-long-0001", async () => reply("second"))).toEqual(reply("first"));
  });

  it("a claim its replica stopped renewing (it died) is taken over", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    await client.create("requests", "ops.install.k-dead-0001", {
      v: 1,
      method: "ops.install",
      state: "pending",
      by: "dead",
      at: Date.now() - 1_000,
    });
    const b = new RequestDedupe(client, { holder: "b", abandonedAfterMs: 400 });
    expect(await b.once("ops.install", "k-dead-0001", async () => reply("b's"))).toEqual(reply("b's"));
  });
});
