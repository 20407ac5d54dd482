import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import { BUCKET_KEYS } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";

const MiB = 1024 * 1024;
const nanos = (ms: number) => ms * 1_000_000;

/** The KV options every bucket is created with, as the server reports them. */
describe("bucket topology", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it("creates every bucket with its history, TTL, value size cap and the cluster's replicas", async () => {
    const c = await ClusterClient.connect({
      servers: [server.url],
      name: "topology",
      prefix: "topo.a",
      leaseTtlMs: 7_000,
    });
    try {
      const config = async (name: string) => {
        const cfg = (await c.jsm.streams.info(`KV_${name}`)).config;
        return {
          history: cfg.max_msgs_per_subject,
          maxAge: cfg.max_age,
          maxValue: cfg.max_msg_size,
          replicas: cfg.num_replicas,
          storage: cfg.storage,
        };
      };
      const file = "file";
      expect(await config("topo_a_nodes")).toEqual({
        history: 1,
        maxAge: 0,
        maxValue: MiB,
        replicas: 1,
        storage: file,
      });
      expect(await config("topo_a_inventory")).toEqual({
        history: 1,
        maxAge: 0,
        maxValue: 4 * MiB,
        replicas: 1,
        storage: file,
      });
      expect(await config("topo_a_ops")).toEqual({
        history: 1,
        maxAge: 0,
        maxValue: MiB,
        replicas: 1,
        storage: file,
      });
      expect(await config("topo_a_upgrades")).toEqual({
        history: 1,
        maxAge: 0,
        maxValue: MiB,
        replicas: 1,
        storage: file,
      });
      expect(await config("topo_a_settings")).toEqual({
        history: 5,
        maxAge: 0,
        maxValue: -1,
        replicas: 1,
        storage: file,
      });
      expect(await config("topo_a_leases")).toEqual({
        history: 1,
        maxAge: nanos(7_000),
        maxValue: -1,
        replicas: 1,
        storage: file,
      });
      const kvStreams: string[] = [];
      for await (const name of c.jsm.streams.names()) if (name.startsWith("KV_topo_a_")) kvStreams.push(name);
      expect(kvStreams.sort()).toEqual(BUCKET_KEYS.map((b) => `KV_topo_a_${b}`).sort());
    } finally {
      await c.close();
    }
  });
});
