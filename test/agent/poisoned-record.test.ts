import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { opKey } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { connectClient, noise, opRecord, runOp, startAgent, submit, type TestAgent } from "./helpers.js";

describe("the agent owns its running op's record", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  let agent: TestAgent;

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    client = await connectClient(nats.url);
    // One slot: the op held by a stuck final write would block the next one.
    agent = await startAgent(nats.url, { nodeId: "n1", rateLimit: 1024 * 1024, maxParallel: 1 });
  });
  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  it("a running op whose record turns malformed is written over as failed, with the reason, and frees its slot", async () => {
    const img = await pushBackendImage(registry, "backends/poisoned", "1", {
      files: { big: noise(1_500_000) },
    });
    const opId = await submit(client, {
      nodeId: "n1",
      kind: "install",
      backend: "poisoned",
      target: { uri: img.ref },
    });
    await waitFor("op running", async () => (await opRecord(client, "n1", opId))?.state === "running");
    await client.bucket("ops").put(opKey("n1", opId), new TextEncoder().encode('{"v":1,"garbage":true}'));
    const op = await waitFor(
      "op record rewritten",
      async () => {
        const r = await opRecord(client, "n1", opId).catch(() => null);
        return r && r.state !== "running" ? r : null;
      },
      15_000,
    );
    expect(op.state).toBe("failed");
    expect(op.error).toMatch(/^op record became unreadable/);
    const next = await pushBackendImage(registry, "backends/after", "1", { files: { v: "1" } });
    await runOp(client, { nodeId: "n1", kind: "install", backend: "after", target: { uri: next.ref } });
  });
});
