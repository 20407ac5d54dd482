import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ApiCallError, ClusterClient, type WatchEvent } from "../../src/client/index.js";
import { silentLogger, type Logger } from "../../src/lib/log.js";
import type { Inventory, OpRecord, Settings } from "../../src/protocol/index.js";
import { NatsCluster, NatsServer } from "../harness/nats-server.js";
import { waitFor } from "../harness/proc.js";

const settings = (autoUpgrade: boolean, by = "test"): Settings => ({
  v: 1,
  autoUpgrade,
  upgradeCheckIntervalSec: 3600,
  updatedAt: Date.now(),
  updatedBy: by,
});

describe("ClusterClient against a real nats-server", () => {
  let server: NatsServer;
  const clients: ClusterClient[] = [];
  const open = async () => {
    const c = await ClusterClient.connect({ servers: [server.url], name: "test" });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it("a KV watch delivers the current state, then each update", async () => {
    const c = await open();
    await c.put("settings", "a", settings(false));
    await c.put("settings", "b", settings(true));
    const seen: Array<WatchEvent<Settings>> = [];
    const w = c.watch("settings", (e) => seen.push(e));
    await w.ready;
    const initial = seen.filter((e) => e.type === "put").map((e) => e.type === "put" && e.key);
    expect(initial.sort()).toEqual(["a", "b"]);
    expect(seen.at(-1)).toEqual({ type: "ready" });
    await c.put("settings", "a", settings(true, "second"));
    await c.delete("settings", "b");
    await waitFor("update and delete", () => seen.length >= 5);
    const after = seen.slice(seen.findIndex((e) => e.type === "ready") + 1);
    expect(after[0]).toMatchObject({
      type: "put",
      key: "a",
      value: { autoUpgrade: true, updatedBy: "second" },
    });
    expect(after[1]).toMatchObject({ type: "delete", key: "b" });
    w.stop();
  });

  it("a watch over an empty bucket is ready at once", async () => {
    const c = await open();
    let ready = false;
    const w = c.watch("upgrades", (e) => {
      if (e.type === "ready") ready = true;
    });
    await w.ready;
    expect(ready).toBe(true);
    w.stop();
  });

  it("reports a malformed value once and skips it, without throwing", async () => {
    const c = await open();
    await c.bucket("settings").put("bad", "{not json");
    await c.bucket("settings").put("wrongversion", JSON.stringify({ ...settings(true), v: 99 }));
    const invalid: string[] = [];
    const puts: string[] = [];
    const w = c.watch(
      "settings",
      (e) => {
        if (e.type === "put") puts.push(e.key);
      },
      { onInvalid: (key, error) => invalid.push(`${key}: ${error}`) },
    );
    await w.ready;
    expect(invalid).toHaveLength(2);
    expect(invalid.find((s) => s.startsWith("wrongversion"))).toMatch(/unsupported schema version/);
    expect(puts).not.toContain("bad");
    w.stop();
    await c.delete("settings", "bad");
    await c.delete("settings", "wrongversion");
  });

  it("lists valid records, and keys every live one, malformed too, without deleted ones", async () => {
    const c = await open();
    await c.put("settings", "k.ok", settings(true));
    await c.bucket("settings").put("k.broken", "{not json");
    await c.put("settings", "k.gone", settings(false));
    await c.delete("settings", "k.gone");
    expect(await c.keys("settings", "k.>")).toEqual(["k.broken", "k.ok"]);
    expect((await c.list("settings", "k.>")).map((r) => r.key)).toEqual(["k.ok"]);
    await c.delete("settings", "k.broken");
    await c.delete("settings", "k.ok");
    expect(await c.keys("settings", "k.>")).toEqual([]);
  });

  it("believes a record's key, not its body: one naming another node or op is dropped and reported once", async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      warn: (msg, fields) => void warnings.push(`${msg} ${JSON.stringify(fields)}`),
      child: () => logger,
    };
    const c = await ClusterClient.connect({ servers: [server.url], name: "test", logger });
    clients.push(c);
    const now = Date.now();
    const op = (nodeId: string, id: string): OpRecord => ({
      v: 1,
      id,
      nodeId,
      kind: "install",
      backend: "piper",
      state: "running",
      requestedBy: "t",
      createdAt: now,
      updatedAt: now,
      attempts: 1,
      dismissed: false,
    });
    const inv = (nodeId: string): Inventory => ({ v: 1, nodeId, updatedAt: now, backends: [] });
    await c.put("ops", "n1.op1", op("n1", "op1"));
    await c.bucket("ops").put("n1.op2", JSON.stringify(op("n2", "op2")));
    await c.bucket("ops").put("n1.op3", JSON.stringify(op("n1", "op1")));
    await c.put("inventory", "n1", inv("n1"));
    await c.bucket("inventory").put("n3", JSON.stringify(inv("n2")));

    expect((await c.list("ops", "n1.*")).map((r) => r.key)).toEqual(["n1.op1"]);
    expect(await c.get("ops", "n1.op2")).toBeNull();
    expect(await c.get("ops", "n1.op3")).toBeNull();
    expect(await c.get("ops", "n1.op1")).not.toBeNull();
    expect((await c.list("inventory")).map((r) => r.key)).toEqual(["n1"]);
    expect(await c.get("inventory", "n3")).toBeNull();
    const puts: string[] = [];
    const w = c.watch("ops", (e) => void (e.type === "put" && puts.push(e.key)));
    await w.ready;
    w.stop();
    expect(puts).toEqual(["n1.op1"]);

    const reported = warnings.filter((m) => m.includes("names another key"));
    expect(reported).toHaveLength(3);
    expect(reported.join("\n")).toMatch(/"key":"n1\.op2".*names n2\.op2/);
    for (const k of ["n1.op1", "n1.op2", "n1.op3"]) await c.delete("ops", k);
    for (const k of ["n1", "n3"]) await c.delete("inventory", k);
  });

  it("compare-and-set refuses a stale revision and modify() retries", async () => {
    const c = await open();
    const rev = await c.create("settings", "cas", settings(false));
    await expect(c.create("settings", "cas", settings(false))).rejects.toThrow(/wrong last sequence/);
    await c.update("settings", "cas", settings(true), rev);
    await expect(c.update("settings", "cas", settings(false), rev)).rejects.toThrow(/wrong last sequence/);
    const both = await Promise.all(
      [1, 2, 3].map((i) => c.modify("settings", "cas", (s) => ({ ...s, updatedBy: `${s.updatedBy}+${i}` }))),
    );
    expect(both.every((e) => e !== null)).toBe(true);
    const final = await c.get("settings", "cas");
    expect(final?.value.updatedBy.split("+")).toHaveLength(4);
  });

  it("a request nobody serves fails within its timeout, naming the subject", async () => {
    const c = await open();
    const err = await c.call("nodes.list", {}, 500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiCallError);
    expect((err as ApiCallError).message).toMatch(/bp\.api\.nodes\.list/);
    expect((err as ApiCallError).code).toMatch(/no_responders|timeout/);
  });

  it("a request whose server never answers times out with a clear error", async () => {
    const c = await open();
    const sub = c.nc.subscribe(c.subjects.api("nodes.list")); // listens, never replies
    const err = await c.call("nodes.list", {}, 300).catch((e: unknown) => e);
    sub.unsubscribe();
    expect((err as ApiCallError).code).toBe("timeout");
    expect((err as ApiCallError).message).toBe("bp.api.nodes.list: no reply within 300 ms");
  });

  it("refuses to send an invalid request", async () => {
    const c = await open();
    const err = await c.call("ops.cancel", { opId: "a.b" }).catch((e: unknown) => e);
    expect((err as ApiCallError).code).toBe("bad_request");
    expect((err as ApiCallError).message).toMatch(/opId/);
  });
});

describe("ClusterClient across a nats-server restart", () => {
  it("loses no KV record, reconnects by itself and resumes its watches", async () => {
    const server = await NatsServer.start();
    const c = await ClusterClient.connect({ servers: [server.url] });
    const states: string[] = [];
    c.onStatus((s) => states.push(s.state));
    try {
      await c.put("settings", "before", settings(true, "before"));
      const seen: string[] = [];
      const w = c.watch("settings", (e) => {
        if (e.type === "put") seen.push(`${e.key}:${e.value.updatedBy}`);
      });
      await w.ready;
      // Several crash/restart cycles: a watch that goes silent after any one of them fails here.
      for (const round of [1, 2, 3]) {
        await server.stop("SIGKILL");
        await waitFor("client to notice", () => c.status.state === "reconnecting");
        await server.restart();
        await waitFor("client to reconnect", () => c.status.state === "connected", 20_000);
        expect((await c.get("settings", "before"))?.value.updatedBy).toBe("before");
        await waitFor(
          "write after restart to succeed",
          async () =>
            (await c.put("settings", "after", settings(false, `after-${round}`)).catch(() => 0)) > 0,
          20_000,
        );
        await waitFor(`watch to deliver write ${round}`, () => seen.includes(`after:after-${round}`), 20_000);
      }
      expect(states).toContain("reconnecting");
      expect(seen.filter((s) => s === "before:before")).toHaveLength(1);
      w.stop();
    } finally {
      await c.close();
      await server.dispose();
    }
  }, 60_000);

  it("keeps retrying while the server is down and says why", async () => {
    const server = await NatsServer.start();
    const url = server.url;
    await server.stop();
    const c = ClusterClient.open({ servers: [url] });
    try {
      await waitFor("a failure reason", () => c.status.reason);
      expect(c.status.state).toBe("disconnected");
      expect(c.status.reason).toMatch(/connection refused/);
      await server.restart();
      await c.ready();
      expect(c.status.state).toBe("connected");
    } finally {
      await c.close();
      await server.dispose();
    }
  }, 30_000);
});

describe("ClusterClient on a 3-server JetStream cluster", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.dispose();
  });

  it("a replicated bucket keeps serving reads and writes with one server killed", async () => {
    const c = await ClusterClient.connect({ servers: cluster.urls, replicas: 3 });
    try {
      const info = await c.jsm.streams.info("KV_bp_settings");
      expect(info.config.num_replicas).toBe(3);
      await c.put("settings", "k", settings(true, "one"));
      await cluster.servers[0]!.stop("SIGKILL");
      await waitFor(
        "a write with one server down",
        async () => (await c.put("settings", "k", settings(false, "two")).catch(() => 0)) > 0,
        30_000,
      );
      expect((await c.get("settings", "k"))?.value.updatedBy).toBe("two");
    } finally {
      await c.close();
    }
  }, 60_000);
});
