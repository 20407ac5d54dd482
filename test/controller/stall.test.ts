import { describe, expect, it } from "vitest";
import type { NodeStatus } from "../../src/protocol/index.js";
import { spawnBackplane } from "../harness/backplane.js";
import { stopProcess, waitFor } from "../harness/proc.js";
import { connect, controllerSuite, uniquePrefix } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const suite = controllerSuite("stall", { gallery: "- name: bar\n  uri: 127.0.0.1:5999/bar:latest\n" });

describe("a stalled controller (the real binary, SIGSTOP) marks no heartbeating node offline", () => {
  it("stopped for 3 s with --offline-after 1s, on resume it reads the heartbeats before judging", async () => {
    const prefix = uniquePrefix();
    const p = spawnBackplane([
      "controller",
      "--server",
      suite.nats.url,
      "--prefix",
      prefix,
      "--gallery",
      suite.galleryPath,
      "--heartbeat-interval",
      "200ms",
      "--offline-after",
      "1s",
      "--health-tick",
      "100ms",
    ]);
    suite.defer(() => stopProcess(p, "SIGKILL"));
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    await waitFor(
      "controller up",
      () =>
        /"leader"|became leader|connected/i.test(p.output()) ||
        (p.child.exitCode !== null && Promise.reject(new Error(p.output()))),
      20_000,
    ).catch((e) => {
      throw new Error(`${String(e)}\n${p.output()}`);
    });
    const n = new FakeNode(client, { nodeId: "n1", heartbeatMs: 200 });
    await n.start({ work: false });
    suite.defer(() => n.stop());
    await waitFor(
      "n1 healthy",
      async () => (await client.get("nodes", "n1"))?.value.status === "healthy",
      20_000,
    );
    const seen: NodeStatus[] = [];
    const w = client.watch("nodes", (e) => {
      if (e.type === "put" && e.key === "n1" && seen.at(-1) !== e.value.status) seen.push(e.value.status);
    });
    suite.defer(async () => w.stop());
    await w.ready;

    p.child.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 3_000)); // the stall itself
    p.child.kill("SIGCONT");
    const resumed = Date.now();
    // Fresh heartbeats recorded for longer than the hold (one interval plus slack) after the resume.
    await waitFor(
      "heartbeats recorded after the resume",
      async () => ((await client.get("nodes", "n1"))?.value.lastHeartbeatAt ?? 0) > resumed + 2_000,
      10_000,
    );
    expect(seen).toEqual(["healthy"]);
    expect(p.output()).toMatch(/health monitor was stalled/);
    // Still judges silence afterwards: a node that really stops goes offline.
    n.stopHeartbeats();
    await waitFor(
      "n1 offline",
      async () => (await client.get("nodes", "n1"))?.value.status === "offline",
      10_000,
    );
  });
});
