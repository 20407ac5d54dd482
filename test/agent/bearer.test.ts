import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { buildImage, parseImageRef, pushImage } from "../../src/oci/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { makeBackendDir } from "../harness/oci-image.js";
import { removeDir } from "../harness/proc.js";
import { connectClient, runOp, startAgent, type TestAgent } from "./helpers.js";
import { TokenRegistry } from "./token-registry.js";

describe("agent against a registry with the bearer-token challenge", () => {
  let nats: NatsServer;
  let registry: TokenRegistry;
  let client: ClusterClient;
  let anonymous: TestAgent;
  let robot: TestAgent;

  async function push(repository: string, content: string): Promise<{ ref: string; digest: string }> {
    const dir = await makeBackendDir({ files: { who: content } });
    const img = await buildImage([dir]);
    const ref = registry.ref(repository, "1");
    const digest = await pushImage(registry.client(), parseImageRef(ref), img);
    await img.dispose();
    await removeDir(dir);
    return { ref, digest };
  }

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), TokenRegistry.start()]);
    client = await connectClient(nats.url);
    [anonymous, robot] = await Promise.all([
      startAgent(nats.url, { nodeId: "anon" }),
      startAgent(nats.url, {
        nodeId: "robot",
        registryCredentials: (h) => (h === registry.host ? registry.user : undefined),
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([anonymous?.stop(), robot?.stop()]);
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  it("pulls a public image with an anonymous token", async () => {
    const img = await push("public/llama", "public");
    const op = await runOp(client, {
      nodeId: "anon",
      kind: "install",
      backend: "llama",
      target: { uri: img.ref },
    });
    expect(op.result?.digest).toBe(img.digest);
    expect(await readFile(join(anonymous.dir, "llama", "who"), "utf8")).toBe("public");
    expect(registry.tokenRequests.some((t) => t.scope === "repository:public/llama:pull" && !t.user)).toBe(
      true,
    );
  });

  it("a private image needs credentials: refused anonymously, pulled with a token for the user", async () => {
    const img = await push("private/vllm", "private");
    const refused = await runOp(
      client,
      { nodeId: "anon", kind: "install", backend: "vllm", target: { uri: img.ref } },
      "failed",
    );
    expect(refused.error).toMatch(/authentication refused|401/);
    const op = await runOp(client, {
      nodeId: "robot",
      kind: "install",
      backend: "vllm",
      target: { uri: img.ref },
    });
    expect(op.result?.digest).toBe(img.digest);
    expect(await readFile(join(robot.dir, "vllm", "who"), "utf8")).toBe("private");
    expect(
      registry.tokenRequests.some((t) => t.scope === "repository:private/vllm:pull" && t.user === "robot"),
    ).toBe(true);
  });
});
