import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import type { Heartbeat, ProgressEvent } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { makeBackendDir, pushBackendImage } from "../harness/oci-image.js";
import { removeDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { RUN_SH, tarball } from "./archives.js";
import {
  connectClient,
  noise,
  runOp,
  startAgent,
  submit,
  treeDigest,
  waitOp,
  type TestAgent,
} from "./helpers.js";
import { localaiList, localaiSummary } from "./localai.js";
import { FileServer } from "./servers.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("agent: install, upgrade, reinstall, delete, rollback against real servers", () => {
  let nats: NatsServer;
  let registry: Registry;
  let authed: Registry;
  let files: FileServer;
  let client: ClusterClient;
  let agent: TestAgent;
  const nodeId = "n1";

  beforeAll(async () => {
    [nats, registry, authed, files] = await Promise.all([
      NatsServer.start(),
      Registry.start(),
      Registry.start({ auth: { username: "tester", password: "s3cret" } }),
      FileServer.start(),
    ]);
    client = await connectClient(nats.url);
    agent = await startAgent(nats.url, {
      nodeId,
      registryCredentials: (h) => (h === authed.host ? authed.auth : undefined),
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose(), authed?.dispose(), files?.dispose()]);
  });

  it("installs an OCI image as a generation with a LocalAI metadata.json naming the pulled digest", async () => {
    const { ref, digest } = await pushBackendImage(registry, "backends/llama", "1.0.0", {
      files: { "lib/a.bin": "hello" },
    });
    const op = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "llama",
      target: { uri: ref, version: "1.0.0", alias: "llm", galleryUrl: "https://g.example/index.yaml" },
    });
    expect(op.result).toMatchObject({ digest, version: "1.0.0", noop: false });
    expect(op.attempts).toBe(1);
    expect(await readlink(join(agent.dir, "llama", "current"))).toBe(
      `../.generations/llama/${op.result!.generation}`,
    );
    expect(await readFile(join(agent.dir, "llama", "lib/a.bin"), "utf8")).toBe("hello");
    expect((await lstat(join(agent.dir, "llama", "run.sh"))).mode & 0o111).not.toBe(0);
    const md = JSON.parse(await readFile(join(agent.dir, "llama", "metadata.json"), "utf8"));
    expect(md).toEqual({
      alias: "llm",
      name: "llama",
      gallery_url: "https://g.example/index.yaml",
      installed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      version: "1.0.0",
      uri: ref,
      digest,
    });
    expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);

    // The same install again is a no-op that pulls nothing.
    const again = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "llama",
      target: { uri: ref, version: "1.0.0" },
    });
    expect(again.result).toMatchObject({ noop: true, generation: op.result!.generation });
  });

  it("installs from a registry that needs basic auth", async () => {
    const { ref, digest } = await pushBackendImage(authed, "backends/private", "2", {
      files: { x: "secret" },
    });
    const op = await runOp(client, { nodeId, kind: "install", backend: "private", target: { uri: ref } });
    expect(op.result?.digest).toBe(digest);
    expect(await readFile(join(agent.dir, "private", "x"), "utf8")).toBe("secret");
  });

  it("installs an http tarball with the right sha256 and refuses one with a wrong sha256", async () => {
    const body = tarball([RUN_SH, { path: "data.bin", body: noise(64 * 1024) }]);
    const uri = files.serve("/whisper.tar.gz", body);
    const ok = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "whisper",
      target: { uri, sha256: sha256(body), version: "3" },
    });
    expect(ok.result).toMatchObject({ digest: `sha256:${sha256(body)}`, version: "3" });
    const before = await treeDigest(join(agent.dir, "whisper"));

    const evil = tarball([RUN_SH, { path: "data.bin", body: "tampered" }]);
    const badUri = files.serve("/whisper-4.tar.gz", evil);
    const bad = await runOp(
      client,
      {
        nodeId,
        kind: "upgrade",
        backend: "whisper",
        target: { uri: badUri, sha256: sha256(body), version: "4" },
      },
      "failed",
    );
    expect(bad.error).toMatch(/digest mismatch/);
    expect(await treeDigest(join(agent.dir, "whisper"))).toEqual(before);
    expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);
  });

  it("resumes an http tarball with Range after a dropped connection", async () => {
    const body = tarball([RUN_SH, { path: "data.bin", body: noise(300_000) }]);
    const uri = files.serve("/resume.tar.gz", body);
    files.dropAt = 100_000;
    files.drops = 0;
    const op = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "resumed",
      target: { uri, sha256: sha256(body) },
    });
    files.dropAt = undefined;
    expect(files.drops).toBe(1);
    expect(files.seen.some((r) => r.url === "/resume.tar.gz" && r.range?.startsWith("bytes="))).toBe(true);
    expect(op.result?.digest).toBe(`sha256:${sha256(body)}`);
  });

  it("picks this platform from an index, and reads Docker v2 manifests too", async () => {
    const { buildImage, pushImage, parseImageRef, MediaType } = await import("../../src/oci/index.js");
    const client2 = registry.client();
    const manifests = [];
    for (const arch of ["arm64", "amd64"]) {
      const dir = await makeBackendDir({ files: { arch } });
      const img = await buildImage([dir], { architecture: arch });
      await pushImage(client2, parseImageRef(registry.ref("backends/multi", `only-${arch}`)), img);
      manifests.push({
        mediaType: MediaType.ociManifest,
        digest: img.manifestDigest,
        size: img.manifest.length,
        platform: { os: "linux", architecture: arch },
      });
      if (arch === "amd64") {
        // The same image under a Docker v2 manifest.
        const docker = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.dockerManifest,
            config: { mediaType: MediaType.dockerConfig, digest: img.configDigest, size: img.config.length },
            layers: img.layers.map((l) => ({
              mediaType: MediaType.dockerLayerGzip,
              digest: l.digest,
              size: l.size,
            })),
          }),
        );
        await client2.pushManifest(
          parseImageRef(registry.ref("backends/multi", "docker")),
          "docker",
          docker,
          MediaType.dockerManifest,
        );
      }
      await img.dispose();
      await removeDir(dir);
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
    const ref = registry.ref("backends/multi", "1");
    const indexDigest = await client2.pushManifest(parseImageRef(ref), "1", index, MediaType.ociIndex);
    const op = await runOp(client, { nodeId, kind: "install", backend: "multi", target: { uri: ref } });
    expect(op.result?.digest).toBe(indexDigest);
    expect(await readFile(join(agent.dir, "multi", "arch"), "utf8")).toBe(
      process.arch === "arm64" ? "arm64" : "amd64",
    );

    const dockerRef = registry.ref("backends/multi", "docker");
    await runOp(client, { nodeId, kind: "install", backend: "multi-docker", target: { uri: dockerRef } });
    expect(await readFile(join(agent.dir, "multi-docker", "arch"), "utf8")).toBe("amd64");
  });

  it("installs from a file:// directory", async () => {
    const src = await makeBackendDir({ files: { "models/m.txt": "m" } });
    try {
      const op = await runOp(client, {
        nodeId,
        kind: "install",
        backend: "local-dir",
        target: { uri: `file://${src}`, version: "0.1" },
      });
      expect(op.result).toMatchObject({ version: "0.1", noop: false });
      expect(await treeDigest(join(agent.dir, "local-dir"), ["metadata.json"])).toEqual(
        await treeDigest(src),
      );
    } finally {
      await removeDir(src);
    }
  });

  it("upgrades when the tag moves, and an upgrade with nothing new is a no-op", async () => {
    const v1 = await pushBackendImage(registry, "backends/vllm", "stable", { files: { v: "1" } });
    const first = await runOp(client, { nodeId, kind: "install", backend: "vllm", target: { uri: v1.ref } });
    const same = await runOp(client, { nodeId, kind: "upgrade", backend: "vllm", target: { uri: v1.ref } });
    expect(same.result).toMatchObject({ noop: true, generation: first.result!.generation });
    const v2 = await pushBackendImage(registry, "backends/vllm", "stable", { files: { v: "2" } });
    expect(v2.digest).not.toBe(v1.digest);
    const up = await runOp(client, { nodeId, kind: "upgrade", backend: "vllm", target: { uri: v2.ref } });
    expect(up.result).toMatchObject({ digest: v2.digest, noop: false });
    expect(up.result!.generation! > first.result!.generation!).toBe(true);
    expect(await readFile(join(agent.dir, "vllm", "v"), "utf8")).toBe("2");
  });

  it("reinstall of an up-to-date backend really pulls again (a new generation, every byte downloaded)", async () => {
    const img = await pushBackendImage(registry, "backends/rerank", "1", {
      files: { "w.bin": noise(200_000) },
    });
    const first = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "rerank",
      target: { uri: img.ref },
    });
    const events: ProgressEvent[] = [];
    const unsub = client.onProgress((e) => events.push(e), nodeId);
    const opId = await submit(client, {
      nodeId,
      kind: "reinstall",
      backend: "rerank",
      target: { uri: img.ref },
    });
    const re = await waitOp(client, nodeId, opId, ["succeeded"]);
    await waitFor("final progress event", () => events.some((e) => e.opId === opId && e.final));
    unsub();
    expect(re.result).toMatchObject({ noop: false, digest: img.digest });
    expect(re.result!.generation).not.toBe(first.result!.generation);
    const final = events.find((e) => e.opId === opId && e.final)!;
    expect(final.bytesTotal).toBeGreaterThan(200_000);
    expect(final.bytesDone).toBe(final.bytesTotal);
    expect(await readdir(join(agent.dir, ".generations", "rerank"))).toHaveLength(2);
  });

  it("rollback restores the previous generation byte for byte", async () => {
    const v1 = await pushBackendImage(registry, "backends/tts", "1", {
      files: { "lib/model.bin": noise(50_000), "lib/libx.so.1": "x" },
    });
    await runOp(client, { nodeId, kind: "install", backend: "tts", target: { uri: v1.ref, version: "1" } });
    const dir = join(agent.dir, "tts");
    const t1 = await treeDigest(dir);
    const v2 = await pushBackendImage(registry, "backends/tts", "2", {
      files: { "lib/model.bin": noise(50_000) },
    });
    await runOp(client, { nodeId, kind: "upgrade", backend: "tts", target: { uri: v2.ref, version: "2" } });
    expect(await treeDigest(dir)).not.toEqual(t1);
    const rb = await runOp(client, { nodeId, kind: "rollback", backend: "tts" });
    expect(rb.result).toMatchObject({ version: "1", digest: v1.digest });
    expect(await treeDigest(dir)).toEqual(t1);
    const none = await runOp(client, { nodeId, kind: "rollback", backend: "tts" }, "failed");
    expect(none.error).toMatch(/no previous generation/);
  });

  it("rollback to a chosen generation: the older of two kept ones, the newer removed; a gone one fails", async () => {
    const trees: Record<string, string>[] = [];
    for (const v of ["1", "2", "3"]) {
      const img = await pushBackendImage(registry, "backends/pick", v, { files: { "lib/v": `v${v}` } });
      await runOp(client, {
        nodeId,
        kind: v === "1" ? "install" : "upgrade",
        backend: "pick",
        target: { uri: img.ref, version: v },
      });
      trees.push(await treeDigest(join(agent.dir, "pick")));
    }
    const gens = (await readdir(join(agent.dir, ".generations", "pick"))).sort();
    expect(gens).toHaveLength(3);
    const [g1, g2] = gens as [string, string, string];
    const rb = await runOp(client, { nodeId, kind: "rollback", backend: "pick", generation: g1 });
    expect(rb.result).toMatchObject({ version: "1", generation: g1 });
    expect(await treeDigest(join(agent.dir, "pick"))).toEqual(trees[0]);
    // The one rolled back from and the kept one newer than the target are both gone.
    expect(await readdir(join(agent.dir, ".generations", "pick"))).toEqual([g1]);
    const gone = await runOp(client, { nodeId, kind: "rollback", backend: "pick", generation: g2 }, "failed");
    expect(gone.error).toContain(`generation ${g2} is not kept here (kept: none)`);
    const live = await runOp(client, { nodeId, kind: "rollback", backend: "pick", generation: g1 }, "failed");
    expect(live.error).toContain(`generation ${g1} is already live`);
    expect(await treeDigest(join(agent.dir, "pick"))).toEqual(trees[0]);
  });

  it("keeps the previous N generations and no more", async () => {
    for (const v of ["1", "2", "3", "4"]) {
      const img = await pushBackendImage(registry, "backends/keep", v, { files: { v } });
      await runOp(client, {
        nodeId,
        kind: v === "1" ? "install" : "upgrade",
        backend: "keep",
        target: { uri: img.ref, version: v },
      });
    }
    const inv = await client.get("inventory", nodeId);
    const row = inv!.value.backends.find((b) => b.name === "keep")!;
    expect(row.metadata.version).toBe("4");
    expect(row.previousGenerations).toHaveLength(2);
    // What each kept generation is, for the dashboard's rollback dialog.
    expect(row.previous?.map((p) => [p.generation, p.version])).toEqual([
      [row.previousGenerations[0], "3"],
      [row.previousGenerations[1], "2"],
    ]);
    expect(row.previous?.every((p) => p.digest?.startsWith("sha256:") && p.installedAt)).toBe(true);
    expect(await readdir(join(agent.dir, ".generations", "keep"))).toHaveLength(3);
  });

  it("installs a meta (pointer + concrete) and deleting the meta removes both", async () => {
    const img = await pushBackendImage(registry, "backends/cpu-llama", "1", {});
    const op = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "llama-cpp",
      target: { name: "cpu-llama-cpp", uri: img.ref, meta: "llama-cpp", version: "9" },
    });
    expect(op.result?.noop).toBe(false);
    const pointer = JSON.parse(await readFile(join(agent.dir, "llama-cpp", "metadata.json"), "utf8"));
    expect(pointer).toMatchObject({ name: "llama-cpp", meta_backend_for: "cpu-llama-cpp", version: "9" });
    expect(await readdir(join(agent.dir, "llama-cpp"))).toEqual(["metadata.json"]);
    const inv = await client.get("inventory", nodeId);
    expect(inv!.value.backends.find((b) => b.name === "llama-cpp")).toMatchObject({
      isMeta: true,
      generation: null,
    });

    await runOp(client, { nodeId, kind: "delete", backend: "llama-cpp" });
    expect(await lstat(join(agent.dir, "llama-cpp")).catch(() => null)).toBeNull();
    expect(await lstat(join(agent.dir, "cpu-llama-cpp")).catch(() => null)).toBeNull();
    expect(await lstat(join(agent.dir, ".generations", "cpu-llama-cpp")).catch(() => null)).toBeNull();
  });

  it("a meta whose name is taken by something that is not a backend is refused before any download", async () => {
    await mkdir(join(agent.dir, "taken-meta"));
    const img = await pushBackendImage(registry, "backends/cpu-taken", "1", {});
    const op = await runOp(
      client,
      {
        nodeId,
        kind: "install",
        backend: "taken-meta",
        target: { name: "cpu-taken", uri: img.ref, meta: "taken-meta" },
      },
      "failed",
    );
    expect(op.error).toBe("taken-meta exists in the backends directory and is not a backend");
    expect(await lstat(join(agent.dir, "cpu-taken")).catch(() => null)).toBeNull();
  });

  it("upgrade of a backend that is not installed fails with a clear error", async () => {
    const img = await pushBackendImage(registry, "backends/nothere", "1", {});
    const op = await runOp(
      client,
      { nodeId, kind: "upgrade", backend: "nothere", target: { uri: img.ref } },
      "failed",
    );
    expect(op.error).toBe("nothere is not installed on this node; install it first");
  });

  it("upgrading a meta whose capability now picks another concrete installs it and repoints the meta", async () => {
    const cpu = await pushBackendImage(registry, "backends/cpu-whisper", "1", { files: { f: "cpu" } });
    const gpu = await pushBackendImage(registry, "backends/cuda-whisper", "1", { files: { f: "cuda" } });
    await runOp(client, {
      nodeId,
      kind: "install",
      backend: "whisper-meta",
      target: { name: "cpu-whisper", uri: cpu.ref, meta: "whisper-meta" },
    });
    await runOp(client, {
      nodeId,
      kind: "upgrade",
      backend: "whisper-meta",
      target: { name: "cuda-whisper", uri: gpu.ref, meta: "whisper-meta" },
    });
    const pointer = JSON.parse(await readFile(join(agent.dir, "whisper-meta", "metadata.json"), "utf8"));
    expect(pointer.meta_backend_for).toBe("cuda-whisper");
    expect(await readFile(join(agent.dir, "cuda-whisper", "f"), "utf8")).toBe("cuda");
  });

  it("deletes a concrete backend and updates the inventory; deleting it again is a no-op", async () => {
    const img = await pushBackendImage(registry, "backends/gone", "1", {});
    await runOp(client, { nodeId, kind: "install", backend: "gone", target: { uri: img.ref } });
    expect((await client.get("inventory", nodeId))!.value.backends.map((b) => b.name)).toContain("gone");
    const del = await runOp(client, { nodeId, kind: "delete", backend: "gone" });
    expect(del.result?.noop).toBe(false);
    expect(await lstat(join(agent.dir, "gone")).catch(() => null)).toBeNull();
    expect(await lstat(join(agent.dir, ".generations", "gone")).catch(() => null)).toBeNull();
    expect((await client.get("inventory", nodeId))!.value.backends.map((b) => b.name)).not.toContain("gone");
    const again = await runOp(client, { nodeId, kind: "delete", backend: "gone" });
    expect(again.result?.noop).toBe(true);
  });

  it("publishes heartbeats with capability, GPU and disk, and an inventory row per backend", async () => {
    const beats: Heartbeat[] = [];
    const unsub = client.onHeartbeat((h) => beats.push(h));
    const hb = await waitFor("a heartbeat", () => beats.find((b) => b.nodeId === nodeId));
    unsub();
    expect(hb).toMatchObject({ capability: "default", gpu: { vendor: "none", vramBytes: 0 }, runningOps: 0 });
    expect(hb.disk.totalBytes).toBeGreaterThan(0);
    expect(hb.disk.freeBytes).toBeGreaterThan(0);
    const inv = (await client.get("inventory", nodeId))!.value;
    const llama = inv.backends.find((b) => b.name === "llama")!;
    expect(llama).toMatchObject({ isMeta: false, metadata: { name: "llama", version: "1.0.0" } });
    expect(llama.generation).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{4}$/);
    expect(llama.sizeBytes).toBeGreaterThan(0);
  });

  it("adopts a LocalAI-style directory on upgrade and keeps it as the previous generation", async () => {
    const legacy = join(agent.dir, "old-style");
    const src = await makeBackendDir({ files: { "v.txt": "legacy" } });
    try {
      const { cp } = await import("node:fs/promises");
      await cp(src, legacy, { recursive: true });
      await writeFile(join(legacy, "metadata.json"), JSON.stringify({ name: "old-style", version: "0" }));
      const img = await pushBackendImage(registry, "backends/old-style", "1", { files: { "v.txt": "new" } });
      await runOp(client, {
        nodeId,
        kind: "upgrade",
        backend: "old-style",
        target: { uri: img.ref, version: "1" },
      });
      expect(await readFile(join(agent.dir, "old-style", "v.txt"), "utf8")).toBe("new");
      await runOp(client, { nodeId, kind: "rollback", backend: "old-style" });
      expect(await readFile(join(agent.dir, "old-style", "v.txt"), "utf8")).toBe("legacy");
    } finally {
      await removeDir(src);
    }
  });

  it("LocalAI's listing shows what the agent installed, upgraded, rolled back and deleted", async () => {
    const v1 = await pushBackendImage(registry, "backends/seen", "1", { files: { v: "1" } });
    const v2 = await pushBackendImage(registry, "backends/seen", "2", { files: { v: "2" } });
    const seen = async () => {
      const all = await localaiSummary(agent.dir);
      return { seen: all["seen"] ?? null, meta: all["seen-meta"] ?? null };
    };
    await runOp(client, {
      nodeId,
      kind: "install",
      backend: "seen-meta",
      target: { name: "seen", uri: v1.ref, version: "1", meta: "seen-meta" },
    });
    expect(await seen()).toEqual({ seen: [v1.ref, v1.digest, "1"], meta: [null, null, "1"] });
    expect((await localaiList(agent.dir))["seen-meta"]).toMatchObject({
      isMeta: true,
      runFile: join(agent.dir, "seen", "run.sh"),
    });
    await runOp(client, {
      nodeId,
      kind: "upgrade",
      backend: "seen-meta",
      target: { name: "seen", uri: v2.ref, version: "2", meta: "seen-meta" },
    });
    expect(await seen()).toEqual({ seen: [v2.ref, v2.digest, "2"], meta: [null, null, "2"] });
    await runOp(client, { nodeId, kind: "rollback", backend: "seen-meta" });
    expect(await seen()).toEqual({ seen: [v1.ref, v1.digest, "1"], meta: [null, null, "1"] });
    await runOp(client, { nodeId, kind: "delete", backend: "seen-meta" });
    expect(await seen()).toEqual({ seen: null, meta: null });
  });
});
