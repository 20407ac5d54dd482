import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { startClusterFeed, type ClusterFeed } from "../../../src/store/cluster-feed.js";
import { encode, opKey } from "../../../src/protocol/index.js";
import { createDashStore, type DashStore } from "../../../src/store/index.js";
import { NatsServer } from "../../harness/nats-server.js";
import { freePort, waitFor } from "../../harness/proc.js";
import { installed, inventory, node, NOW, op, progress, settings, upgrade } from "../helpers/cluster.js";

const FLUSH_MS = 100;

function wire(client: ClusterClient, store: DashStore): ClusterFeed {
  const a = store.getState().actions;
  return startClusterFeed(
    client,
    {
      batch: (e, n) => a.applyBatch(e, n),
      status: (s) => a.setConn(s),
      problem: (m) => a.setFeedProblem(m),
      audit: (events) => a.addHistoryEvents(events),
    },
    { flushMs: FLUSH_MS },
  );
}

describe("cluster feed against a real nats-server", () => {
  let server: NatsServer;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  // One prefix per server: each prefix reserves 1 GiB for its EVENTS stream, the test server has 2.
  async function open(servers = [server.url], prefix = "bp") {
    const client = ClusterClient.open({ servers, prefix, name: "feed-test", timeoutMs: 1_000 });
    cleanups.push(() => client.close());
    const store = createDashStore();
    const f = wire(client, store);
    cleanups.push(() => f.stop());
    return { client, store, feed: f };
  }

  it("hands each audit event to History as the controller records it (the events stream's subjects)", async () => {
    const { client, store, feed } = await open([server.url], "bp");
    await feed.synced;
    const ev = { v: 1 as const, kind: "op.created" as const, at: NOW, actor: "alice", opId: "op-live-1" };
    // As the controller's audit does: a JetStream publish on <p>.events.<kind>.<ids>.
    await client.js.publish(client.subjects.event("op.created", "gpu-01", "op-live-1"), encode(ev));
    await waitFor("the live event in History", () => store.getState().history.data.length === 1);
    expect(store.getState().history.data[0]).toMatchObject({ opId: "op-live-1", actor: "alice" });
  });

  it("delivers the current state of every bucket, then changes, and marks each synced", async () => {
    const writer = await ClusterClient.connect({ servers: [server.url] });
    cleanups.push(() => writer.close());
    await writer.put("nodes", "gpu-01", node("gpu-01"));
    await writer.put("inventory", "gpu-01", inventory("gpu-01", [installed("llama-cpp", "1.0.0")]));
    const o = op("gpu-01", { id: "op-feed-1" });
    await writer.put("ops", opKey("gpu-01", o.id), o);
    await writer.put("upgrades", "llama-cpp", upgrade("llama-cpp", "1.1.0", ["gpu-01"]));
    await writer.put("settings", "cluster", settings(true));

    const { store, feed } = await open([server.url], "bp");
    await feed.synced;
    await waitFor("initial state in the store", () => Object.values(store.getState().synced).every(Boolean));
    const s = store.getState();
    expect(s.nodes.get("gpu-01")?.status).toBe("healthy");
    expect(s.inventory.get("gpu-01")?.backends[0]?.name).toBe("llama-cpp");
    expect(s.ops.get("op-feed-1")?.state).toBe("running");
    expect(s.upgrades.get("llama-cpp")?.availableVersion).toBe("1.1.0");
    expect(s.settings?.autoUpgrade).toBe(true);
    expect(s.conn.state).toBe("connected");

    await writer.put("ops", opKey("gpu-01", o.id), { ...o, state: "failed", error: "boom" });
    await writer.delete("nodes", "gpu-01");
    await waitFor(
      "the change",
      () =>
        store.getState().ops.get("op-feed-1")?.state === "failed" && !store.getState().nodes.has("gpu-01"),
    );

    writer.publish(writer.subjects.heartbeat("gpu-02"), { ...node("gpu-02").last, sentAt: NOW + 5 });
    await waitFor("a heartbeat", () => store.getState().heartbeats.get("gpu-02")?.sentAt === NOW + 5);
  });

  it("coalesces 10 000 progress messages into a bounded number of store updates, ending on the last", async () => {
    const { client, store, feed } = await open([server.url], "bp");
    await feed.synced;
    const batches0 = store.getState().stats.batches;
    const o = op("gpu-01", { id: "op-storm-1" });
    const started = Date.now();
    for (let i = 0; i < 10_000; i++) {
      client.nc.publish(
        client.subjects.progress("gpu-01", o.id),
        encode(progress(o, i + 1, 10_000, NOW + i)),
      );
      if (i % 500 === 499) await client.nc.flush();
    }
    await client.nc.flush();
    await waitFor(
      "the last progress value",
      () => store.getState().progress.get(o.id)?.bytesDone === 10_000,
      10_000,
    );
    const elapsed = Date.now() - started;
    const batches = store.getState().stats.batches - batches0;
    expect(batches).toBeLessThanOrEqual(Math.ceil(elapsed / FLUSH_MS) + 1);
    expect(store.getState().stats.events).toBeGreaterThanOrEqual(10_000);
  });

  it("says why it cannot connect and keeps retrying instead of giving up", async () => {
    const port = await freePort();
    const { store } = await open([`nats://127.0.0.1:${port}`]);
    await waitFor("a second failed attempt", () => store.getState().conn.attempts >= 2, 15_000);
    const c = store.getState().conn;
    expect(c.state).toBe("disconnected");
    expect(c.reason).toMatch(/connection refused: is nats-server running there\?/);

    const bad = await open(["nats://exa mple:4222"]);
    await waitFor(
      "a bad-URL reason",
      () => /bad server URL/.test(bad.store.getState().conn.reason ?? ""),
      10_000,
    );
  });

  it("reports a lost connection and resumes the watches after the server comes back", async () => {
    const own = await NatsServer.start();
    cleanups.push(() => own.dispose());
    const { store, feed } = await open([own.url], "bp");
    await feed.synced;
    await own.stop();
    await waitFor("reconnecting", () => store.getState().conn.state === "reconnecting", 15_000);
    await own.restart();
    await waitFor("connected again", () => store.getState().conn.state === "connected", 20_000);
    const writer = await ClusterClient.connect({ servers: [own.url] });
    cleanups.push(() => writer.close());
    // JetStream may take a moment to serve again after a restart: keep writing until one arrives.
    let n = 0;
    await waitFor(
      "a change after the restart",
      async () => {
        const id = `gpu-r${n++}`;
        await writer.put("nodes", id, node(id)).catch(() => 0);
        return [...store.getState().nodes.keys()].some((k) => k.startsWith("gpu-r"));
      },
      40_000,
      250,
    );
    expect(store.getState().stack).toHaveLength(1);
  }, 60_000);
});
