import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { startClusterFeed } from "../../../src/store/cluster-feed.js";
import { spawnBackplane } from "../../harness/backplane.js";
import { NatsServer } from "../../harness/nats-server.js";
import { removeDir, stopProcess, tempDir, waitFor, type Spawned } from "../../harness/proc.js";
import { node } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

/**
 * The scenario with a real controller process: stopped (SIGSTOP) while the dashboard
 * drains a node, resumed later. The dashboard must say the drain is not confirmed, that no
 * controller is there, and then how the drain ended; the drain is applied once.
 */
describe("a controller stopped with SIGSTOP, then resumed", () => {
  let nats: NatsServer;
  let dir: string;
  let ctl: Spawned;
  beforeAll(async () => {
    nats = await NatsServer.start();
    dir = await tempDir("dash-stopped");
    const gallery = join(dir, "index.yaml");
    await writeFile(gallery, "- name: bar\n  uri: 127.0.0.1:1/bar:latest\n");
    ctl = spawnBackplane(["controller", "--server", nats.url, "--gallery", gallery, "--lease-ttl", "2s"]);
  });
  afterAll(async () => {
    unmountAll();
    if (ctl.child.pid) process.kill(ctl.child.pid, "SIGCONT");
    await stopProcess(ctl);
    await nats?.dispose();
    await removeDir(dir);
  });

  it("the header says no controller, the drain is not confirmed, then its outcome shows once it lands", async () => {
    const writer = await ClusterClient.connect({ servers: [nats.url], name: "writer" });
    const dash = await ClusterClient.connect({ servers: [nats.url], name: "dash", apiTimeoutMs: 1_000 });
    try {
      await waitFor("the controller's lease", () => writer.get("leases", "controller"), 20_000, 100);
      await writer.put("nodes", "gpu-01", { ...node("gpu-01"), lastHeartbeatAt: Date.now() });

      const r = renderDash({ columns: 120, rows: 30, api: dash, runner: { followUpEveryMs: 200 } });
      const a = r.store.getState().actions;
      const feed = startClusterFeed(dash, {
        batch: (e, n) => a.applyBatch(e, n),
        status: (s) => a.setConn(s),
        problem: (m) => a.setFeedProblem(m),
        leaseTtl: (ms) => a.setLeaseTtl(ms),
      });
      try {
        await r.waitForFrame(/│ leader \S+ \ds/, "the leader in the header", 10_000);
        process.kill(ctl.child.pid!, "SIGSTOP");
        await r.press("D");
        await r.waitForFrame("Drain gpu-01");
        await r.press("y");
        let f = await r.waitForFrame("not confirmed", "the drain not confirmed", 10_000);
        expect(f).toContain(
          "not confirmed: no controller answered within 1 s; it may still be applied (drain gpu-01)",
        );
        f = await r.waitForFrame(/✗ no controller for \d+s/, "no controller, in words", 10_000);
        expect((await writer.get("nodes", "gpu-01"))!.value.status).toBe("healthy");

        process.kill(ctl.child.pid!, "SIGCONT");
        f = await r.waitForFrame(/gpu-01 is draining \(confirmed after \d+s\)/, "the late outcome", 20_000);
        await r.waitForFrame(/│ leader \S+ \ds/, "the leader back", 10_000);
        expect((await writer.get("nodes", "gpu-01"))!.value.status).toBe("draining");
        const drains = (await writer.call("ops.history", { nodeId: "gpu-01" })).events.filter(
          (e) => e.kind === "node.status" && e.message?.startsWith("drain"),
        );
        expect(drains).toHaveLength(1);
      } finally {
        feed.stop();
      }
    } finally {
      await dash.close();
      await writer.close();
    }
  }, 90_000);
});
