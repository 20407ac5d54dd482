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

  it("says the audit stream does not fit and how to fix it, then fits with --events-max-bytes", async () => {
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

    const fits = await ClusterClient.connect({
      servers: [server.url],
      name: "fits",
      prefix: "small",
      eventsMaxBytes: 16 * 1024 ** 2,
    });
    try {
      const info = await fits.jsm.streams.info(streamNames("small").events);
      expect(info.config.max_bytes).toBe(16 * 1024 ** 2);
    } finally {
      await fits.close();
    }
  });
});
