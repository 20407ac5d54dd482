import type { Msg, Subscription } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { encode, IDEMPOTENCY_HEADER } from "../../../src/protocol/index.js";
import { NatsServer } from "../../harness/nats-server.js";
import { feed, node, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

/**
 * A controller that hears `nodes.drain` but answers nothing until released (as one stopped with
 * SIGSTOP), then applies each key once and answers every request with that key alike.
 */
function silentController(client: ClusterClient) {
  const heard: Array<{ key: string | undefined; msg: Msg }> = [];
  const applied = new Map<string, unknown>();
  let answering = false;
  const reply = (key: string | undefined, msg: Msg) => {
    const k = key ?? `unkeyed-${heard.length}`;
    if (!applied.has(k)) applied.set(k, { ...node("gpu-01"), status: "draining" });
    msg.respond(encode({ ok: true, data: { node: applied.get(k) } }));
  };
  const sub: Subscription = client.nc.subscribe(client.subjects.api("nodes.drain"), {
    callback: (_e, msg) => {
      const key = msg.headers?.get(IDEMPOTENCY_HEADER) || undefined;
      heard.push({ key, msg });
      if (answering) reply(key, msg);
    },
  });
  return {
    heard,
    applied,
    resume() {
      answering = true;
    },
    stop: () => sub.unsubscribe(),
  };
}

describe("a command no controller answers in time", () => {
  let server: NatsServer;
  let client: ClusterClient;
  beforeAll(async () => {
    server = await NatsServer.start();
    client = await ClusterClient.connect({ servers: [server.url], name: "dash-test", apiTimeoutMs: 300 });
  });
  afterEach(unmountAll);
  afterAll(async () => {
    await client?.close();
    await server?.dispose();
  });

  it("says it is not confirmed and may still be applied, then shows the outcome when it lands; every ask carries one key", async () => {
    const ctl = silentController(client);
    try {
      const r = renderDash({ columns: 120, api: client, runner: { followUpEveryMs: 100 } });
      feed(r.store, smallCluster());
      await r.waitForFrame("gpu-01");
      await r.press("j", "D");
      await r.waitForFrame("Drain gpu-01");
      await r.press("y");
      const f = await r.waitForFrame("not confirmed");
      expect(f).toContain("not confirmed: no controller answered within 0.3 s; it may still be applied");
      expect(f).toContain("(drain gpu-01)");
      expect(f).not.toMatch(/failed/);
      // Still asking (same key) while nobody answers.
      await r.waitForFrame(() => ctl.heard.length >= 3, "the dashboard asking again", 5_000);
      ctl.resume();
      const done = await r.waitForFrame(
        /gpu-01 is draining \(confirmed after \d+s\)/,
        "the late outcome",
        5_000,
      );
      expect(done).not.toContain("not confirmed");
      const keys = new Set(ctl.heard.map((h) => h.key));
      expect(keys.size).toBe(1);
      expect([...keys][0]).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
      expect(ctl.applied.size).toBe(1);
    } finally {
      ctl.stop();
    }
  });
});
