import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { Registry } from "../harness/registry.js";
import { connectClient, runOp, startAgent, submit, waitOp, type TestAgent } from "./helpers.js";

describe("a no-op install collects old generations too", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  let agent: TestAgent;
  let crashAfterActivation = false;

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    client = await connectClient(nats.url);
    agent = await startAgent(nats.url, {
      nodeId: "n1",
      keepGenerations: 2,
      // Stop the commit right after the new generation went live, before clean-up, as a kill would.
      onStep: (step) => {
        if (step === "activated" && crashAfterActivation) {
          crashAfterActivation = false;
          throw new Error("killed between activation and clean-up");
        }
      },
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  it("interrupted after activation, the retry (a no-op) leaves the live generation and the 2 kept", async () => {
    const gens = () => readdir(join(agent.dir, ".generations", "kept"));
    const push = (v: string) => pushBackendImage(registry, "backends/kept", v, { files: { v } });
    for (const v of ["1", "2", "3"]) {
      const img = await push(v);
      await runOp(client, {
        nodeId: "n1",
        kind: v === "1" ? "install" : "upgrade",
        backend: "kept",
        target: { uri: img.ref },
      });
    }
    expect(await gens()).toHaveLength(3);
    const v4 = await push("4");
    crashAfterActivation = true;
    const first = await submit(client, {
      nodeId: "n1",
      kind: "upgrade",
      backend: "kept",
      target: { uri: v4.ref },
    });
    let op = await waitOp(client, "n1", first);
    if (op.state === "failed") {
      // The op gave up: the user's retry finds v4 live already.
      op = await runOp(client, { nodeId: "n1", kind: "upgrade", backend: "kept", target: { uri: v4.ref } });
    }
    expect(op.state).toBe("succeeded");
    expect(op.result?.noop).toBe(true);
    expect(await gens()).toHaveLength(3);
  });
});
