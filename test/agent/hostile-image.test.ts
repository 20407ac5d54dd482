import { randomBytes } from "node:crypto";
import { lstat, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage, pushLayers } from "../harness/oci-image.js";
import { Registry } from "../harness/registry.js";
import { RUN_SH, tarball, type TarItem } from "./archives.js";
import { tempDir, waitFor } from "../harness/proc.js";
import { connectClient, runOp, startAgent, type TestAgent } from "./helpers.js";
import { RegistryProxy } from "./servers.js";

const MiB = 1024 * 1024;

/** Bytes that gzip shrinks about 350 times: under the 1000x ratio cap, a bomb all the same. */
function compressible(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4096) randomBytes(4).copy(b, i);
  return b;
}

/** Bytes of the files under `dir` (files may vanish while it walks). */
async function usedBytes(dir: string): Promise<number> {
  let n = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += await usedBytes(p);
    else n += (await lstat(p).catch(() => null))?.size ?? 0;
  }
  return n;
}

/** A filesystem of `capacity` bytes holding only `dir`: what the agent is told is free. */
function smallDisk(dir: string, capacity: number) {
  const disk = {
    minFree: Infinity,
    calls: 0,
    freeBytes: async () => {
      disk.calls++;
      const free = capacity - (await usedBytes(dir));
      disk.minFree = Math.min(disk.minFree, free);
      return free;
    },
  };
  return disk;
}

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
    const before = proxy.manifestMark();
    const op = await runOp(
      client,
      { nodeId: "victim", kind: "install", backend: "fat", target: { uri: viaProxy } },
      "failed",
    );
    expect(op.error).toMatch(/manifest backends\/fat:1 is larger than 4 MiB: refusing it/);
    const sent = await waitFor("the padded responses to end", () => proxy.manifestBytesSentSince(before));
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(await stat(join(agent.dir, "fat")).catch(() => null)).toBeNull();

    // Padding under the cap is still a valid manifest.
    proxy.faults = { padManifests: 3 * 1024 * 1024 };
    await runOp(client, { nodeId: "victim", kind: "install", backend: "fat", target: { uri: viaProxy } });
    expect(await readFile(join(agent.dir, "fat", "f.txt"), "utf8")).toBe("fat");
    proxy.faults = {};
  });

  describe("a decompression bomb under the ratio cap", () => {
    const bombFiles = (n: number, size: number): TarItem[] => {
      const body = compressible(size);
      return [RUN_SH, ...Array.from({ length: n }, (_, i) => ({ path: `bomb/${i}.bin`, body }))];
    };

    it("stops, with a clear error, before the backends dir drops below the margin", async () => {
      const dir = await tempDir("backends");
      const disk = smallDisk(dir, 40 * MiB);
      const tight = await startAgent(nats.url, {
        nodeId: "tight",
        backendsDir: dir,
        freeBytes: disk.freeBytes,
        diskMarginBytes: 4 * MiB,
        limits: { maxBytes: 1024 * MiB }, // an operator's generous cap does not let the disk fill
      });
      try {
        const layer = tarball(bombFiles(25, 4 * MiB));
        expect(layer.length).toBeLessThan(2 * MiB);
        const img = await pushLayers(registry, "backends/bomb", "1", [layer]);
        const op = await runOp(
          client,
          { nodeId: "tight", kind: "install", backend: "bomb", target: { uri: img.ref } },
          "failed",
        );
        expect(op.error).toMatch(
          /not enough free disk in .*: stopped after writing .*, .* free and the next .* would leave less than the 4\.0 MiB margin/,
        );
        expect(disk.minFree).toBeGreaterThan(0);
        expect(await stat(join(dir, "bomb")).catch(() => null)).toBeNull();
        expect(await readdir(join(dir, ".staging"))).toEqual([]);
        const small = await pushBackendImage(registry, "backends/small", "1", {});
        await runOp(client, {
          nodeId: "tight",
          kind: "install",
          backend: "small",
          target: { uri: small.ref },
        });
      } finally {
        await tight.stop();
      }
    });

    it("the default byte cap is the free space less the margin, not 64 GiB", async () => {
      const dir = await tempDir("backends");
      const disk = smallDisk(dir, 40 * MiB);
      const small = await startAgent(nats.url, {
        nodeId: "small",
        backendsDir: dir,
        freeBytes: disk.freeBytes,
        diskMarginBytes: 4 * MiB,
      });
      try {
        const img = await pushLayers(registry, "backends/bomb", "2", [tarball(bombFiles(1, 64 * MiB))]);
        const op = await runOp(
          client,
          { nodeId: "small", kind: "install", backend: "bomb", target: { uri: img.ref } },
          "failed",
        );
        const cap = Number(/holds more than (\d+) bytes/.exec(op.error ?? "")?.[1]);
        expect(op.error).toMatch(/refusing archive entry "bomb\/0\.bin"/);
        expect(cap).toBeGreaterThan(30 * MiB);
        expect(cap).toBeLessThanOrEqual(36 * MiB);
        expect(await stat(join(dir, "bomb")).catch(() => null)).toBeNull();
      } finally {
        await small.stop();
      }
    });
  });
});
