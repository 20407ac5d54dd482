import { readdir, readFile, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import type { ProgressEvent } from "../../src/protocol/index.js";
import { spawnBackplane } from "../harness/backplane.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { removeDir, stopProcess, tempDir, waitFor, type Spawned } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { pidsOf, running, runSh } from "./health-backends.js";
import { connectClient, noise, opRecord, submit, treeDigest, waitOp } from "./helpers.js";
import { localaiSummary } from "./localai.js";
import { RegistryProxy } from "./servers.js";
import { parseImageRef } from "../../src/oci/index.js";

describe("the real `backplane agent` process", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  let dir: string;
  const procs: Spawned[] = [];

  const start = async (nodeId: string, extra: string[] = []): Promise<Spawned> => {
    const p = spawnBackplane([
      "agent",
      "--node-id",
      nodeId,
      "--backends-dir",
      join(dir, nodeId),
      "--server",
      nats.url,
      "--no-fsync",
      "--heartbeat-interval",
      "1s",
      "--capability",
      "default",
      "--probe",
      "none",
      ...extra,
    ]);
    procs.push(p);
    await waitFor(
      "agent started",
      () => {
        if (p.child.exitCode !== null) throw new Error(`agent exited:\n${p.output()}`);
        return /"agent started"/.test(p.output());
      },
      15_000,
    );
    return p;
  };

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    client = await connectClient(nats.url);
    dir = await tempDir("agent-proc");
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => stopProcess(p, "SIGKILL")));
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
    await removeDir(dir);
  });

  async function upgradeUnderWay(nodeId: string, name: string) {
    const v1 = await pushBackendImage(registry, `backends/${name}`, "1", { files: { v: "1" } });
    const first = await submit(client, { nodeId, kind: "install", backend: name, target: { uri: v1.ref } });
    await waitOp(client, nodeId, first, ["succeeded"]);
    const before = await treeDigest(join(dir, nodeId, name));
    const v2 = await pushBackendImage(registry, `backends/${name}`, "2", {
      files: { big: noise(3_000_000) },
    });
    const events: ProgressEvent[] = [];
    const unsub = client.onProgress((e) => events.push(e), nodeId);
    const opId = await submit(client, { nodeId, kind: "upgrade", backend: name, target: { uri: v2.ref } });
    await waitFor("download under way", () => events.some((e) => e.opId === opId && e.bytesDone > 200_000));
    unsub();
    return { opId, before, v2 };
  }

  it("kill -9 mid-download, restart: old version live meanwhile, staging cleaned, op retried and succeeds", async () => {
    const nodeId = "crashy";
    const p = await start(nodeId, ["--rate-limit", "400k"]);
    const { opId, before, v2 } = await upgradeUnderWay(nodeId, "llm");
    p.child.kill("SIGKILL");
    await p.exited;
    const root = join(dir, nodeId);
    expect(await treeDigest(join(root, "llm"))).toEqual(before);
    expect((await opRecord(client, nodeId, opId))?.state).toBe("running");

    const again = await start(nodeId);
    const op = await waitOp(client, nodeId, opId, ["succeeded"]);
    expect(op.attempts).toBe(2);
    expect(op.result?.digest).toBe(v2.digest);
    expect(again.output()).toMatch(/removing leftover of an interrupted operation/);
    expect(await readdir(join(root, ".staging"))).toEqual([]);
    expect(await readlink(join(root, "llm", "current"))).toBe(`../.generations/llm/${op.result!.generation}`);
    await stopProcess(again);
  });

  it("kill -9 at 60 % of a large blob, restart: the retried op downloads less than half of it again", async () => {
    const nodeId = "resumy";
    const proxy = await RegistryProxy.start(registry.host);
    try {
      const p = await start(nodeId, ["--rate-limit", "1M"]);
      const img = await pushBackendImage(registry, "backends/big", "1", { files: { big: noise(4_000_000) } });
      const m = await registry.client().getManifest(parseImageRef(img.ref));
      const layer = (JSON.parse(m.body.toString()) as { layers: Array<{ digest: string; size: number }> })
        .layers[0]!;
      const events: ProgressEvent[] = [];
      const unsub = client.onProgress((e) => events.push(e), nodeId);
      const opId = await submit(client, {
        nodeId,
        kind: "install",
        backend: "big",
        target: { uri: img.ref.replace(registry.host, proxy.host) },
      });
      await waitFor("60 % of the blob", () =>
        events.some((e) => e.opId === opId && e.bytesDone >= 0.6 * layer.size),
      );
      unsub();
      p.child.kill("SIGKILL");
      await p.exited;
      const partial = join(dir, nodeId, ".blobs", `${layer.digest.slice(7)}.partial`);
      const kept = (await stat(partial)).size;
      const before = proxy.blobBytesSent;

      const again = await start(nodeId);
      const op = await waitOp(client, nodeId, opId, ["succeeded"]);
      const refetched = proxy.blobBytesSent - before;
      expect(op.attempts).toBe(2);
      expect(op.result?.digest).toBe(img.digest);
      expect(refetched).toBeLessThan(layer.size / 2);
      expect(refetched).toBe(layer.size - kept);
      expect(again.output()).toMatch(/resuming a cached partial layer/);
      console.log(
        `resume after kill -9: blob ${layer.size} B, ${kept} B kept on disk, ${refetched} B downloaded again (${((100 * refetched) / layer.size).toFixed(1)} %)`,
      );
      await stopProcess(again);
    } finally {
      await proxy.dispose();
    }
  });

  it("SIGTERM: exits 0, the interrupted op goes back to queued and runs after the restart", async () => {
    const nodeId = "termy";
    const p = await start(nodeId, ["--rate-limit", "400k"]);
    const { opId, before } = await upgradeUnderWay(nodeId, "tts");
    p.child.kill("SIGTERM");
    expect(await p.exited, p.output().slice(-3000)).toBe(0);
    expect(await treeDigest(join(dir, nodeId, "tts"))).toEqual(before);
    const rec = await opRecord(client, nodeId, opId);
    // The phase it was in when stopped (mid-download, at 400 KB/s), not the one it started in.
    expect(rec).toMatchObject({
      state: "queued",
      attempts: 1,
      error: "interrupted: the agent stopped while downloading",
    });
    expect(await readdir(join(dir, nodeId, ".staging"))).toEqual([]);

    const again = await start(nodeId);
    const op = await waitOp(client, nodeId, opId, ["succeeded"]);
    expect(op.attempts).toBe(2);
    expect(op.error).toBeUndefined();
    await stopProcess(again);
  });

  it("kill -9 mid-probe: the restart stops the probed backend, the retried op fails its probe, v1 stays", async () => {
    const nodeId = "probey";
    const root = join(dir, nodeId);
    const probe = ["--probe", "grpc", "--probe-timeout", "60s"];
    const p = await start(nodeId, probe);
    const v1 = await pushBackendImage(registry, "backends/vad", "1", {
      runSh: runSh("ok", join(dir, "vad1")),
    });
    const first = await submit(client, { nodeId, kind: "install", backend: "vad", target: { uri: v1.ref } });
    await waitOp(client, nodeId, first, ["succeeded"]);
    const pidfile = join(dir, "vad2");
    const v2 = await pushBackendImage(registry, "backends/vad", "2", { runSh: runSh("hang", pidfile) });
    const opId = await submit(client, { nodeId, kind: "upgrade", backend: "vad", target: { uri: v2.ref } });
    await waitFor(
      "the probe to run",
      async () => (await opRecord(client, nodeId, opId))?.phase === "probing",
    );
    await waitFor("the backend to start", () => readFile(pidfile, "utf8").then(Boolean, () => false));
    p.child.kill("SIGKILL");
    await p.exited;
    const pids = await pidsOf(pidfile);
    // Its own process group: the agent's death alone does not stop it.
    for (const pid of pids) expect(await running(pid)).toBe(true);
    expect((await localaiSummary(root))["vad"]).toEqual([v1.ref, v1.digest, null]);

    const again = await start(nodeId, ["--probe", "grpc", "--probe-timeout", "5s"]);
    expect(again.output()).toMatch(/stopped the processes of an interrupted health probe/);
    for (const pid of pids) expect(await running(pid), `pid ${pid}`).toBe(false);
    const op = await waitOp(client, nodeId, opId, ["failed"]);
    expect(op.attempts).toBe(2);
    expect(op.error).toMatch(/^health probe failed: no answer to Health on 127\.0\.0\.1:\d+ within 5 s/);
    expect((await localaiSummary(root))["vad"]).toEqual([v1.ref, v1.digest, null]);
    expect(await readdir(join(root, ".staging"))).toEqual([]);
    for (const pid of await pidsOf(pidfile)) expect(await running(pid), `pid ${pid}`).toBe(false);
    await stopProcess(again);
  });

  it("kill -9 mid-hook: the restart stops what the hook left running; the retried op finds it live", async () => {
    const nodeId = "hooky";
    const pidfile = join(dir, "hook-sleep");
    const p = await start(nodeId, [
      "--on-activate",
      `sleep 600 & echo $! > '${pidfile}'; wait`,
      "--hook-timeout",
      "10m",
    ]);
    const v1 = await pushBackendImage(registry, "backends/hooked", "1", { files: { v: "1" } });
    const opId = await submit(client, {
      nodeId,
      kind: "install",
      backend: "hooked",
      target: { uri: v1.ref },
    });
    await waitFor("the hook to run", () => readFile(pidfile, "utf8").then(Boolean, () => false));
    const [pid] = await pidsOf(pidfile);
    p.child.kill("SIGKILL");
    await p.exited;
    expect(await running(pid!)).toBe(true);

    const again = await start(nodeId, ["--on-activate", "true"]);
    expect(again.output()).toMatch(/stopped the processes of an interrupted health probe or hook/);
    expect(await running(pid!)).toBe(false);
    const op = await waitOp(client, nodeId, opId, ["succeeded"]);
    expect(op.attempts).toBe(2);
    expect(op.result).toMatchObject({ noop: true });
    expect((await localaiSummary(join(dir, nodeId)))["hooked"]).toEqual([v1.ref, v1.digest, null]);
    await stopProcess(again);
  });
});
