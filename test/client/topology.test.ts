import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import { streamNames } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";

/** A server whose JetStream file store is smaller than the audit stream's default 1 GiB. */
describe("topology on a server with little JetStream storage", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start({ maxFileStore: "64MB" });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it("says the audit stream does not fit and how to fix it; --events-max-bytes creates or resizes it", async () => {
    const tooBig = ClusterClient.open({ servers: [server.url], name: "too-big", prefix: "small" });
    const reason = await new Promise<string>((resolve) => {
      const stop = tooBig.onStatus((s) => {
        if (s.reason) {
          stop();
          resolve(s.reason);
        }
      });
    });
    await tooBig.close();
    expect(reason).toMatch(/^cannot create stream SMALL_EVENTS of 1073741824 bytes: insufficient storage/);
    expect(reason).toMatch(/lower the controller's --events-max-bytes or raise the server's max_file_store/);

    const sized = async (name: string, eventsMaxBytes?: number) => {
      const c = await ClusterClient.connect({ servers: [server.url], name, prefix: "small", eventsMaxBytes });
      try {
        return (await c.jsm.streams.info(streamNames("small").events)).config.max_bytes;
      } finally {
        await c.close();
      }
    };
    const MiB = 1024 ** 2;
    expect(await sized("fits", 16 * MiB)).toBe(16 * MiB);
    // A role that does not set the cap attaches as it is; the controller's flag resizes it.
    expect(await sized("agent")).toBe(16 * MiB);
    expect(await sized("controller", 32 * MiB)).toBe(32 * MiB);
  });
});
