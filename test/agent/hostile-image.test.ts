import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage, pushLayers } from "../harness/oci-image.js";
import { Registry } from "../harness/registry.js";
import { RUN_SH, tarball, type TarItem } from "./archives.js";
import { waitFor } from "../harness/proc.js";
import { connectClient, runOp, startAgent, type TestAgent } from "./helpers.js";
import { RegistryProxy } from "./servers.js";

/** A hostile image reaches nothing outside its own files (issue 11, section 2), on the real agent. */
describe("a hostile image reaches nothing outside its own files", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  let agent: TestAgent;
  let proxy: RegistryProxy;

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    proxy = await RegistryProxy.start(registry.host);
    client = await connectClient(nats.url);
    agent = await startAgent(nats.url, { nodeId: "victim" });
    const good = await pushBackendImage(registry, "backends/good", "1", { files: { "keep.txt": "kept" } });
    await runOp(client, { nodeId: "victim", kind: "install", backend: "good", target: { uri: good.ref } });
  });

  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await proxy?.dispose();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  /** The agent still installs, and what it installed before is intact. */
  async function agentStillWorks(tag: string): Promise<void> {
    expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);
    expect(await readFile(join(agent.dir, "good", "keep.txt"), "utf8")).toBe("kept");
    const next = await pushBackendImage(registry, "backends/after", tag, { files: { "n.txt": tag } });
    await runOp(client, {
      nodeId: "victim",
      kind: "install",
      backend: `after-${tag}`,
      target: { uri: next.ref },
    });
    expect(await readFile(join(agent.dir, `after-${tag}`, "n.txt"), "utf8")).toBe(tag);
  }

  const lower: TarItem[] = [RUN_SH, { path: "a", body: "file" }, { path: "d/x", body: "x" }];
  const whiteouts: Array<[string, TarItem[], RegExp]> = [
    ["'.wh...' (a whiteout of '..': the agent's staging root)", [{ path: ".wh..." }], /whiteout of "\.\."/],
    ["'d/.wh...' (a whiteout of d/..)", [{ path: "d/.wh..." }], /whiteout of "\.\."/],
    ["'.wh..' (a whiteout of '.': the staging dir itself)", [{ path: ".wh.." }], /whiteout of "\."/],
    ["'.wh.' (a whiteout of nothing)", [{ path: "d/.wh." }], /whiteout of ""/],
    [
      "a whiteout below a file names its cause",
      [{ path: "a/.wh.b" }],
      /whiteout of a\/b failed: a path component is not a directory/,
    ],
  ];
  for (const [i, [what, upper, why]] of whiteouts.entries()) {
    it(what, async () => {
      const img = await pushLayers(registry, "backends/whiteout", `w${i}`, [tarball(lower), tarball(upper)]);
      const op = await runOp(
        client,
        { nodeId: "victim", kind: "install", backend: `wh${i}`, target: { uri: img.ref } },
        "failed",
      );
      expect(op.error).toMatch(/refusing archive entry/);
      expect(op.error).toMatch(why);
      expect(await stat(join(agent.dir, `wh${i}`)).catch(() => null)).toBeNull();
      await agentStillWorks(`w${i}`);
    });
  }

  it("a manifest over 4 MiB is refused while it is read, before any of it is parsed", async () => {
    await pushBackendImage(registry, "backends/fat", "1", { files: { "f.txt": "fat" } });
    const viaProxy = `${proxy.host}/backends/fat:1`;
    proxy.faults = { padManifests: 512 * 1024 * 1024 };
    const before = proxy.manifestBytesSent;
    const op = await runOp(
      client,
      { nodeId: "victim", kind: "install", backend: "fat", target: { uri: viaProxy } },
      "failed",
    );
    expect(op.error).toMatch(/manifest backends\/fat:1 is larger than 4 MiB: refusing it/);
    const sent = await waitFor("the proxy to stop sending", async () => {
      const n = proxy.manifestBytesSent;
      await new Promise((r) => setTimeout(r, 100));
      return n > before && proxy.manifestBytesSent === n ? n - before : undefined;
    });
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(await stat(join(agent.dir, "fat")).catch(() => null)).toBeNull();

    // Padding under the cap is still a valid manifest.
    proxy.faults = { padManifests: 3 * 1024 * 1024 };
    await runOp(client, { nodeId: "victim", kind: "install", backend: "fat", target: { uri: viaProxy } });
    expect(await readFile(join(agent.dir, "fat", "f.txt"), "utf8")).toBe("fat");
    proxy.faults = {};
  });
});
