import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { nodeRows } from "../../../src/format/nodes.js";
import { startClusterFeed } from "../../../src/store/cluster-feed.js";
import { createDashStore } from "../../../src/store/index.js";
import { NatsServer } from "../../harness/nats-server.js";
import { waitFor } from "../../harness/proc.js";
import { node, NOW } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

describe("a node whose record cannot be parsed", () => {
  it("is a row of its own, marked unreadable with why, not left out", () => {
    const rows = nodeRows({
      nodes: new Map([["gpu-01", node("gpu-01")]]),
      heartbeats: new Map(),
      inventory: new Map(),
      ops: new Map(),
      now: NOW,
      unreadable: new Map([["gpu-00", "Unexpected token 'x', \"x\" is not valid JSON"]]),
    });
    expect(rows.map((r) => r.key)).toEqual(["gpu-00", "gpu-01"]);
    const bad = rows[0]!;
    expect(bad.cells.status).toMatchObject({ text: "? unreadable", tone: "err" });
    expect(bad.cells.node!.text).toBe("gpu-00");
    expect(bad.tail).toMatchObject({ from: "capability", tone: "err" });
    expect(bad.tail!.text).toContain("record unreadable: Unexpected token");
  });

  describe("against a real nats-server", () => {
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

    it("the Nodes view lists it with its key and the parse error, and shows the node again once repaired", async () => {
      const writer = await ClusterClient.connect({ servers: [server.url], prefix: "bp" });
      cleanups.push(() => writer.close());
      await writer.put("nodes", "gpu-01", node("gpu-01"));
      await writer.put("nodes", "gpu-02", node("gpu-02"));
      // A manual `nats kv put`: not JSON at all.
      await writer.bucket("nodes").put("gpu-02", "garbage{");

      const client = ClusterClient.open({ servers: [server.url], prefix: "bp", name: "dash" });
      cleanups.push(() => client.close());
      const store = createDashStore({ context: { name: "test", servers: [server.url] } });
      const a = store.getState().actions;
      const feed = startClusterFeed(
        client,
        {
          batch: (e, n) => a.applyBatch(e, n),
          status: (s) => a.setConn(s),
          problem: (m) => a.setFeedProblem(m),
        },
        { flushMs: 50 },
      );
      cleanups.push(() => feed.stop());
      const r = renderDash({ columns: 100, rows: 20, store });

      let f = await r.waitForFrame("? unreadable", "the unreadable node's row", 10_000);
      const row = f.split("\n").find((l) => l.includes("? unreadable"))!;
      expect(row).toContain("gpu-02");
      expect(row).toMatch(/record unreadable: \S/);
      expect(f).toContain("gpu-01");
      expect(store.getState().nodes.has("gpu-02")).toBe(false);

      // The owner (the health monitor, on the node's heartbeat) writes a valid record over it.
      await writer.put("nodes", "gpu-02", node("gpu-02"));
      await waitFor("the repaired node", () => store.getState().nodes.has("gpu-02"));
      f = await r.waitForFrame((fr) => !fr.includes("unreadable"), "the unreadable mark gone", 5_000);
      expect(f.split("\n").find((l) => l.includes("gpu-02"))).toContain("healthy");
      expect(store.getState().unreadableNodes.size).toBe(0);
    });
  });
});
