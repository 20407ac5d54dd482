import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClusterClient,
  isCasConflict,
  isNoResponders,
  isRequestTimeout,
  isTransientJetStream,
} from "../../src/client/index.js";
import { JsPublisher } from "../../src/client/js-publish.js";
import { bucketNames, decode, encode, OpRecord } from "../../src/protocol/index.js";
import { opRecord } from "../fixtures/records.js";
import { NatsServer } from "../harness/nats-server.js";

describe("JetStream publishes pipelined through one inbox", () => {
  let server: NatsServer;
  let c: ClusterClient;

  beforeAll(async () => {
    server = await NatsServer.start();
    c = await ClusterClient.connect({ servers: [server.url], name: "js-publish-test" });
    await c.jsm.streams.add({ name: "PIPE", subjects: ["pipe.>"] });
  });
  afterAll(async () => {
    await c?.close();
    await server?.dispose();
  });

  it("acks many in flight, each with its own sequence, and drops a repeated msgID", async () => {
    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, i) => c.jsPublish(`pipe.${i}`, encode({ i }), { msgID: `m${i}` })),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(200);
    expect(acks.every((a) => a.stream === "PIPE" && !a.duplicate)).toBe(true);
    const again = await c.jsPublish("pipe.0", encode({ i: 0 }), { msgID: "m0" });
    expect(again).toMatchObject({ duplicate: true, seq: acks[0]!.seq });
    expect((await c.jsm.streams.info("PIPE")).state.messages).toBe(200);
  });

  it("refuses like js.publish: a compare-and-set conflict, no stream (no responders)", async () => {
    await c.jsPublish("pipe.cas", encode(1), { expectLastSubjectSeq: 0 });
    const lost = await c
      .jsPublish("pipe.cas", encode(2), { expectLastSubjectSeq: 0 })
      .catch((e: unknown) => e);
    expect(isCasConflict(lost)).toBe(true);
    const nobody = await c.jsPublish("nostream.x", encode(1)).catch((e: unknown) => e);
    expect(isNoResponders(nobody)).toBe(true);
    expect(isTransientJetStream(nobody)).toBe(true);
  });

  it("times out when nothing acks (a core subscriber is not a stream)", async () => {
    const sub = c.nc.subscribe("silent.x");
    const p = new JsPublisher(c.nc, undefined, 200);
    const e = await p.publish("silent.x", encode(1)).catch((err: unknown) => err);
    expect(isRequestTimeout(e)).toBe(true);
    expect(isTransientJetStream(e)).toBe(true);
    sub.unsubscribe();
  });

  it("createIn writes once, refuses an existing key and writes over a delete marker", async () => {
    const op = opRecord;
    const key = `${op.nodeId}.${op.id}`;
    const kv = c.bucket("ops");
    const rev = await c.create("ops", key, op);
    expect(decode(OpRecord, (await kv.get(key))!.value)).toMatchObject({ ok: true, value: op });
    const twice = await c.create("ops", key, op).catch((e: unknown) => e);
    expect(isCasConflict(twice)).toBe(true);
    await kv.delete(key);
    const rev2 = await c.createIn(kv, bucketNames(c.prefix).ops, key, encode(op));
    expect(rev2).toBeGreaterThan(rev);
    expect((await c.get("ops", key))?.revision).toBe(rev2);
    await expect(c.createIn(kv, bucketNames(c.prefix).ops, "bad key", encode(op))).rejects.toThrow(
      /invalid key/,
    );
  });
});
