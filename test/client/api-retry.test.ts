import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient, RESEND_AFTER_MS, type ApiCallError } from "../../src/client/index.js";
import { NO_RESPONDERS_RETRY_MS } from "../../src/client/api-client.js";
import { encode, IDEMPOTENCY_HEADER, type ApiEnvelope } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";

interface Heard {
  subject: string;
  key?: string;
}

/**
 * A stand-in controller: `answer(n)` decides what the n-th request gets (an envelope, or
 * undefined to stay silent, as a controller whose reply was lost with a server).
 */
async function responder(c: ClusterClient, answer: (n: number) => ApiEnvelope | undefined) {
  const heard: Heard[] = [];
  const sub = c.nc.subscribe(c.subjects.apiAll(), {
    callback: (_err, msg) => {
      heard.push({ subject: msg.subject, key: msg.headers?.get(IDEMPOTENCY_HEADER) || undefined });
      const reply = answer(heard.length);
      if (reply) msg.respond(encode(reply));
    },
  });
  // Listening at the server before the first call, and no longer once the test is over.
  await c.nc.flush();
  return {
    heard,
    stop: async () => {
      sub.unsubscribe();
      await c.nc.flush();
    },
  };
}

const NODES: ApiEnvelope = { ok: true, data: { nodes: [], unreadable: [], total: 0 } };
const SETTINGS: ApiEnvelope = {
  ok: true,
  data: {
    settings: { v: 1, autoUpgrade: true, upgradeCheckIntervalSec: 3600, updatedAt: 1, updatedBy: "t" },
  },
};
const UNAVAILABLE: ApiEnvelope = {
  ok: false,
  error: { code: "unavailable", message: "no stream leader yet" },
};

describe("API calls that may be repeated", () => {
  let server: NatsServer;
  let caller: ClusterClient;
  let controller: ClusterClient;
  const stops: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    server = await NatsServer.start();
    caller = await ClusterClient.connect({ servers: [server.url], name: "caller" });
    controller = await ClusterClient.connect({ servers: [server.url], name: "controller" });
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });
  afterAll(async () => {
    await Promise.all([caller?.close(), controller?.close()]);
    await server?.dispose();
  });

  it("a call that no copy of has an answer to fails naming its timeout, however late the timers fired", async () => {
    const r = await responder(controller, () => undefined);
    stops.push(r.stop);
    const timeoutMs = RESEND_AFTER_MS + 500;
    const err = (await caller.call("nodes.list", {}, timeoutMs).catch((e: unknown) => e)) as ApiCallError;
    expect(r.heard).toHaveLength(2);
    expect(err.code).toBe("timeout");
    expect(err.timeoutMs).toBe(timeoutMs);
    expect(err.message).toBe(`bp.api.nodes.list: no reply within ${timeoutMs} ms (sent 2 times)`);
  });

  it("a read with no answer is sent again, and the answer to the second copy counts", async () => {
    const r = await responder(controller, (n) => (n === 1 ? undefined : NODES));
    stops.push(r.stop);
    const res = await caller.call("nodes.list", {}, RESEND_AFTER_MS * 3);
    expect(res.nodes).toEqual([]);
    expect(r.heard.map((h) => h.subject)).toEqual(["bp.api.nodes.list", "bp.api.nodes.list"]);
  });

  it("with nobody serving the API, a long call says so after a few seconds, not at its timeout", async () => {
    const started = Date.now();
    const e = (await caller.call("nodes.list", {}, 60_000).catch((x: unknown) => x)) as ApiCallError;
    expect(e.code).toBe("no_responders");
    // Asked again for a while (a controller reconnecting subscribes again), then given up.
    expect(Date.now() - started).toBeGreaterThanOrEqual(NO_RESPONDERS_RETRY_MS);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it("a read answered 'unavailable' is asked again until it is answered", async () => {
    const r = await responder(controller, (n) => (n < 3 ? UNAVAILABLE : NODES));
    stops.push(r.stop);
    await expect(caller.call("nodes.list", {}, 5_000)).resolves.toMatchObject({ nodes: [] });
    expect(r.heard).toHaveLength(3);
  });

  it("a write with an idempotency key is asked again with the same key", async () => {
    const r = await responder(controller, (n) => (n === 1 ? UNAVAILABLE : SETTINGS));
    stops.push(r.stop);
    const res = await caller.call("settings.set", { autoUpgrade: true }, 5_000, {
      idempotencyKey: "key-12345678",
    });
    expect(res.settings.autoUpgrade).toBe(true);
    expect(r.heard.map((h) => h.key)).toEqual(["key-12345678", "key-12345678"]);
  });

  it("a write without a key is sent once, whatever happens to it", async () => {
    const r = await responder(controller, () => UNAVAILABLE);
    stops.push(r.stop);
    const err = await caller.call("settings.set", { autoUpgrade: true }, 3_000).catch((e: unknown) => e);
    expect((err as ApiCallError).code).toBe("unavailable");
    expect(r.heard).toHaveLength(1);
  });

  it("retry: false asks once", async () => {
    const r = await responder(controller, () => UNAVAILABLE);
    stops.push(r.stop);
    const err = await caller.call("nodes.list", {}, 3_000, { retry: false }).catch((e: unknown) => e);
    expect((err as ApiCallError).code).toBe("unavailable");
    expect(r.heard).toHaveLength(1);
  });

  it("a refusal is final: it is not asked again", async () => {
    const r = await responder(controller, () => ({
      ok: false,
      error: { code: "not_found", message: "no such op" },
    }));
    stops.push(r.stop);
    const err = await caller.call("ops.get", { opId: "op-x" }, 3_000).catch((e: unknown) => e);
    expect((err as ApiCallError).code).toBe("not_found");
    expect(r.heard).toHaveLength(1);
  });

  it("a CLI session's client gives each write its own key, so it too may be asked again", async () => {
    const cli = await ClusterClient.connect({ servers: [server.url], name: "cli", keyWrites: true });
    stops.push(() => cli.close());
    const r = await responder(controller, (n) => (n === 1 ? UNAVAILABLE : SETTINGS));
    stops.push(r.stop);
    await cli.call("settings.set", { autoUpgrade: true }, 5_000);
    await cli.call("settings.set", { autoUpgrade: true }, 5_000);
    const [a, b, c] = r.heard.map((h) => h.key);
    expect(a).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });
});
