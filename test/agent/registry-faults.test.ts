import { createHash } from "node:crypto";
import { open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { parseImageRef } from "../../src/oci/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { Registry } from "../harness/registry.js";
import type { ProgressEvent } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import {
  cancelOp,
  connectClient,
  noise,
  runOp,
  startAgent,
  submit,
  waitOp,
  type TestAgent,
} from "./helpers.js";
import { RegistryProxy, type SeenRequest } from "./servers.js";

async function layerOf(registry: Registry, ref: string): Promise<{ digest: string; size: number }> {
  const m = await registry.client().getManifest(parseImageRef(ref));
  return (JSON.parse(m.body.toString()) as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
}

const cached = (a: TestAgent) => join(a.dir, ".blobs");
const hexOf = (digest: string) => digest.slice("sha256:".length);
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Time between the first request matching `pattern` and the one after it (same pattern). */
function gapAfterFirst(seen: SeenRequest[], pattern: RegExp, since: number): number {
  const hits = seen.filter((r) => r.method === "GET" && pattern.test(r.url) && (r.at ?? 0) >= since);
  expect(hits.length).toBeGreaterThanOrEqual(2);
  return hits[1]!.at! - hits[0]!.at!;
}

describe("agent against a hung, throttling or failing registry, and its blob cache", () => {
  let nats: NatsServer;
  let registry: Registry;
  let proxy: RegistryProxy;
  let client: ClusterClient;
  let agent: TestAgent;

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    proxy = await RegistryProxy.start(registry.host);
    client = await connectClient(nats.url);
    agent = await startAgent(nats.url, {
      nodeId: "flaky",
      stallMs: 1_000,
      requestTimeoutMs: 1_000,
      retryAfter: { capMs: 5_000, budgetMs: 10_000 },
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await proxy?.dispose();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  /** Push `name` with one incompressible layer of `bytes`; its reference through the proxy. */
  async function image(name: string, bytes: number, tag = "1") {
    const img = await pushBackendImage(registry, `backends/${name}`, tag, { files: { big: noise(bytes) } });
    return {
      ...img,
      via: img.ref.replace(registry.host, proxy.host),
      layer: await layerOf(registry, img.ref),
    };
  }

  const install = (
    name: string,
    uri: string,
    expect: "succeeded" | "failed" = "succeeded",
    kind: "install" | "reinstall" = "install",
  ) => runOp(client, { nodeId: "flaky", kind, backend: name, target: { uri } }, expect, 30_000);

  it("a blob that stalls mid-way ends the attempt after --stall-timeout and resumes with Range", async () => {
    const img = await image("stall", 300_000);
    proxy.faults = { stallBlobAt: 100_000, stalls: 1 };
    proxy.stalled = 0;
    const op = await install("stall", img.via);
    proxy.faults = {};
    expect(op.result?.digest).toBe(img.digest);
    expect(proxy.stalled).toBe(1);
    const gets = proxy.blobGets().filter((r) => r.url.includes(img.layer.digest));
    expect(gets.at(-1)?.range).toBe("bytes=100000-");
  });

  it("a blob that always stalls fails the op naming the registry, the blob and how far it got", async () => {
    const img = await image("stuck", 300_000);
    proxy.faults = { stallBlobAt: 100_000, stalls: Infinity };
    const op = await install("stuck", img.via, "failed");
    proxy.faults = {};
    expect(op.error).toContain(
      `registry ${proxy.host} sent no byte for 1 s while fetching blob ${img.layer.digest} (97.7 KiB of ${(img.layer.size / 1024).toFixed(1)} KiB)`,
    );
    expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);
  });

  it("a manifest request that is never answered fails the op clearly and leaves no staging", async () => {
    const img = await image("silent", 1_000);
    proxy.faults = { hangManifests: true };
    const op = await install("silent", img.via, "failed");
    proxy.faults = {};
    expect(op.error).toMatch(
      new RegExp(`manifest request to ${proxy.host.replace(/\./g, "\\.")} got no answer within 1 s`),
    );
    expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);
    expect(await readdir(agent.dir)).not.toContain("silent");
  });

  it("a 429 with Retry-After in seconds on a manifest is waited out", async () => {
    const img = await image("throttled", 1_000);
    const since = Date.now();
    proxy.faults = { refuse: { on: "manifests", status: 429, retryAfter: "2", times: 1 } };
    const op = await install("throttled", img.via);
    proxy.faults = {};
    expect(op.result?.digest).toBe(img.digest);
    expect(gapAfterFirst(proxy.seen, /\/manifests\//, since)).toBeGreaterThanOrEqual(2_000);
  });

  it("a 503 with Retry-After as an HTTP date on a blob is waited out", async () => {
    const img = await image("busy", 50_000);
    const since = Date.now();
    // HTTP dates have whole seconds: 3 s from now is at least 2 s away.
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_000).toUTCString();
    proxy.faults = { refuse: { on: "blobs", status: 503, retryAfter: at, times: 1 } };
    const op = await install("busy", img.via);
    proxy.faults = {};
    expect(op.result?.digest).toBe(img.digest);
    expect(gapAfterFirst(proxy.seen, /\/blobs\//, since)).toBeGreaterThanOrEqual(1_900);
  });

  it("a Retry-After longer than the agent waits fails the op and says so", async () => {
    const img = await image("toolong", 1_000);
    proxy.faults = { refuse: { on: "manifests", status: 429, retryAfter: "3600", times: 1 } };
    const op = await install("toolong", img.via, "failed");
    proxy.faults = {};
    expect(op.error).toMatch(/asked to retry after 3600 s, more than the 5 s this agent waits/);
  });

  it("a single 500 on a manifest is retried and the op succeeds", async () => {
    const img = await image("hiccup", 1_000);
    proxy.refused = 0;
    proxy.faults = { refuse: { on: "manifests", status: 500, times: 1 } };
    const op = await install("hiccup", img.via);
    proxy.faults = {};
    expect(proxy.refused).toBe(1);
    expect(op.result?.digest).toBe(img.digest);
  });

  it("a reinstall streams a cached layer from disk, re-verified, and downloads nothing", async () => {
    const img = await image("warm", 400_000);
    const sent0 = proxy.blobBytesSent;
    await install("warm", img.via);
    expect(proxy.blobBytesSent - sent0).toBe(img.layer.size);
    expect(sha(await readFile(join(cached(agent), hexOf(img.layer.digest))))).toBe(img.layer.digest);
    const sent1 = proxy.blobBytesSent;
    const downloaded = async () => (await agent.agent.metrics.downloadedBytes.get()).values[0]?.value ?? 0;
    const counted = await downloaded();
    const re = await install("warm", img.via, "succeeded", "reinstall");
    expect(re.result).toMatchObject({ noop: false, digest: img.digest });
    expect(proxy.blobBytesSent - sent1).toBe(0);
    // Read from the cache: progress, not downloads, for /metrics.
    expect(await downloaded()).toBe(counted);
  });

  it("a corrupt cached blob is discarded and fetched again", async () => {
    const img = await image("rotten", 300_000);
    await install("rotten", img.via);
    const file = join(cached(agent), hexOf(img.layer.digest));
    const fh = await open(file, "r+");
    await fh.write(Buffer.from([0x00, 0xff, 0x00, 0xff]), 0, 4, 150_000);
    await fh.close();
    const sent = proxy.blobBytesSent;
    const re = await install("rotten", img.via, "succeeded", "reinstall");
    expect(re.result?.digest).toBe(img.digest);
    expect(proxy.blobBytesSent - sent).toBe(img.layer.size);
    expect(sha(await readFile(file))).toBe(img.layer.digest);
  });

  it("two ops fetching the same blob at once: both succeed, the registry sends it once", async () => {
    const img = await image("twin", 500_000);
    const sent = proxy.blobBytesSent;
    const ids = await Promise.all(
      ["twin-a", "twin-b"].map((name) =>
        submit(client, { nodeId: "flaky", kind: "install", backend: name, target: { uri: img.via } }),
      ),
    );
    for (const id of ids) {
      expect((await waitOp(client, "flaky", id, ["succeeded"], 30_000)).result?.digest).toBe(img.digest);
    }
    expect(proxy.blobBytesSent - sent).toBe(img.layer.size);
  });

  it("a cancelled download keeps its partial blob, and the next op resumes it with Range", async () => {
    const slow = await startAgent(nats.url, { nodeId: "slowc", rateLimit: 512 * 1024 });
    try {
      const img = await image("halfway", 1_500_000);
      const events: ProgressEvent[] = [];
      const unsub = client.onProgress((e) => events.push(e), "slowc");
      const target = { uri: img.via };
      const first = await submit(client, { nodeId: "slowc", kind: "install", backend: "halfway", target });
      await waitFor("half the blob", () =>
        events.some((e) => e.opId === first && e.bytesDone >= img.layer.size / 2),
      );
      unsub();
      await cancelOp(client, "slowc", first);
      await waitOp(client, "slowc", first, ["cancelled"]);
      const kept = (await readFile(join(cached(slow), `${hexOf(img.layer.digest)}.partial`))).length;
      expect(kept).toBeGreaterThanOrEqual(img.layer.size / 2);
      const sent = proxy.blobBytesSent;
      const op = await runOp(
        client,
        { nodeId: "slowc", kind: "install", backend: "halfway", target },
        "succeeded",
        30_000,
      );
      expect(op.result?.digest).toBe(img.digest);
      expect(proxy.blobBytesSent - sent).toBe(img.layer.size - kept);
      expect(proxy.blobGets().at(-1)?.range).toBe(`bytes=${kept}-`);
    } finally {
      await slow.stop();
    }
  });

  it("keeps the cache under --blob-cache-max, least recently used out first", async () => {
    const small = await startAgent(nats.url, { nodeId: "lru", blobCacheMaxBytes: 700_000 });
    try {
      const imgs: Array<Awaited<ReturnType<typeof image>>> = [];
      for (const name of ["lru-a", "lru-b", "lru-c"]) imgs.push(await image(name, 300_000));
      const run = (name: string, uri: string, kind: "install" | "reinstall" = "install") =>
        runOp(client, { nodeId: "lru", kind, backend: name, target: { uri } }, "succeeded", 30_000);
      await run("lru-a", imgs[0]!.via);
      await run("lru-b", imgs[1]!.via);
      // a is used again: b is now the least recently used.
      await run("lru-a", imgs[0]!.via, "reinstall");
      await run("lru-c", imgs[2]!.via);
      const files = await readdir(cached(small));
      const has = (i: number) => files.includes(hexOf(imgs[i]!.layer.digest));
      expect([has(0), has(1), has(2)]).toEqual([true, false, true]);
      expect(await small.agent.blobs.bytes()).toBeLessThanOrEqual(700_000);
    } finally {
      await small.stop();
    }
  });
});
