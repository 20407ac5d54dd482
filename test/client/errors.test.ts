import { JetStreamApiError, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ClusterClient,
  isCasConflict,
  isNoMessageFound,
  isNoResponders,
  isRequestTimeout,
  isStreamNameInUse,
  isStreamNotFound,
  jsErrorCode,
  JsErrorCode,
} from "../../src/client/index.js";
import type { Settings } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";

const settings: Settings = {
  v: 1,
  autoUpgrade: false,
  upgradeCheckIntervalSec: 3600,
  updatedAt: 1,
  updatedBy: "test",
};

/** What the server's error would become if it were only its text: never classified. */
const textOnly = (e: unknown) => new Error(e instanceof Error ? e.message : String(e));

describe("NATS errors are classified by their JetStream codes", () => {
  let server: NatsServer;
  let c: ClusterClient;

  beforeAll(async () => {
    server = await NatsServer.start();
    c = await ClusterClient.connect({ servers: [server.url], name: "errors-test" });
  });
  afterAll(async () => {
    await c?.close();
    await server?.dispose();
  });

  it("a lost compare-and-set (create of an existing key, stale update) is a CAS conflict", async () => {
    const rev = await c.create("settings", "cas", settings);
    const created = await c.create("settings", "cas", settings).catch((e: unknown) => e);
    const stale = await c.update("settings", "cas", settings, rev + 100).catch((e: unknown) => e);
    for (const e of [created, stale]) {
      expect(jsErrorCode(e)).toBe(JsErrorCode.StreamWrongLastSequence);
      expect(isCasConflict(e)).toBe(true);
      expect(isCasConflict(textOnly(e))).toBe(false);
      expect(isStreamNotFound(e)).toBe(false);
    }
  });

  it("asking about a stream that does not exist is 'stream not found'", async () => {
    const e = await c.jsm.streams.info("NO_SUCH_STREAM").catch((err: unknown) => err);
    expect(isStreamNotFound(e)).toBe(true);
    expect(isStreamNotFound(textOnly(e))).toBe(false);
    expect(isCasConflict(e)).toBe(false);
  });

  it("creating a stream whose name is taken with another configuration is 'name in use'", async () => {
    const cfg = {
      name: "TAKEN",
      subjects: ["taken.a"],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    };
    await c.jsm.streams.add(cfg);
    const e = await c.jsm.streams.add({ ...cfg, subjects: ["taken.b"] }).catch((err: unknown) => err);
    expect(isStreamNameInUse(e)).toBe(true);
    expect(isStreamNameInUse(textOnly(e))).toBe(false);
  });

  it("a code is found through the cause chain, and only a JetStream API error has one", () => {
    const api = new JetStreamApiError({ code: 404, err_code: JsErrorCode.NoMessageFound, description: "x" });
    expect(isNoMessageFound(api)).toBe(true);
    expect(isNoMessageFound(new Error("wrapped", { cause: api }))).toBe(true);
    expect(isNoMessageFound(new Error("no message found"))).toBe(false);
    expect(jsErrorCode("not an error")).toBeUndefined();
  });

  it("a request nobody serves is 'no responders'; one never answered is a timeout", async () => {
    const none = await c.request("nobody.here", {}, 2_000).catch((e: unknown) => e);
    expect(isNoResponders(none)).toBe(true);
    expect(isRequestTimeout(none)).toBe(false);
    const stop = c.serve("silent.here", () => {});
    const late = await c.request("silent.here", {}, 200).catch((e: unknown) => e);
    stop();
    expect(isRequestTimeout(late)).toBe(true);
    expect(isNoResponders(late)).toBe(false);
    expect(isRequestTimeout(new Error("timeout"))).toBe(false);
  });
});
