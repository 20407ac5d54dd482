import { open, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { encode, opKey, streamNames, type ProgressEvent } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { tempDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { RUN_SH, tarball, type TarItem } from "./archives.js";
import {
  cancelOp,
  connectClient,
  noise,
  opRecord,
  runOp,
  startAgent,
  submit,
  treeDigest,
  waitOp,
  type TestAgent,
} from "./helpers.js";
import { RegistryProxy } from "./servers.js";

/** Flip one byte of a blob in the registry's storage, keeping its size. */
async function corruptBlob(registry: Registry, digest: string): Promise<void> {
  const hex = digest.slice("sha256:".length);
  const file = join(registry.dir, "data/docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
  const fh = await open(file, "r+");
  try {
    const size = (await fh.stat()).size;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 100);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, size - 100);
  } finally {
    await fh.close();
  }
}

/** Wait until a node's work consumer has nothing pending or unacked. */
async function workDrained(client: ClusterClient, nodeId: string, what: string): Promise<void> {
  const stream = streamNames(client.prefix).work;
  await waitFor(what, async () => {
    const info = await client.jsm.consumers.info(stream, `agent_${nodeId}`);
    return info.num_ack_pending === 0 && info.num_pending === 0;
  });
}

async function layerDigests(registry: Registry, ref: string): Promise<string[]> {
  const { parseImageRef } = await import("../../src/oci/index.js");
  const m = await registry.client().getManifest(parseImageRef(ref));
  return (JSON.parse(m.body.toString()) as { layers: Array<{ digest: string }> }).layers.map((l) => l.digest);
}

describe("agent under faults: bad bytes, dropped connections, redirects, cancels, concurrency", () => {
  let nats: NatsServer;
  let registry: Registry;
  let authed: Registry;
  let proxy: RegistryProxy;
  let client: ClusterClient;
  let fast: TestAgent;
  let slow: TestAgent;

  beforeAll(async () => {
    [nats, registry, authed] = await Promise.all([
      NatsServer.start(),
      Registry.start(),
      Registry.start({ auth: { username: "tester", password: "s3cret" } }),
    ]);
    proxy = await RegistryProxy.start(authed.host, authed.auth);
    client = await connectClient(nats.url);
    [fast, slow] = await Promise.all([
      startAgent(nats.url, {
        nodeId: "fast",
        registryCredentials: (h) => (h === proxy.host ? authed.auth : undefined),
      }),
      startAgent(nats.url, { nodeId: "slow", rateLimit: 1024 * 1024 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fast?.stop(), slow?.stop()]);
    await client?.close();
    await proxy?.dispose();
    await Promise.all([nats?.dispose(), registry?.dispose(), authed?.dispose()]);
  });

  /** Install `name` v1 on `a` and return a digest of its tree, to prove it survives. */
  async function installV1(a: TestAgent, name: string): Promise<Record<string, string>> {
    const img = await pushBackendImage(registry, `backends/${name}`, "v1", { files: { v: "1" } });
    await runOp(client, { nodeId: a.agent.nodeId, kind: "install", backend: name, target: { uri: img.ref } });
    return treeDigest(join(a.dir, name));
  }

  it("a corrupted blob (digest mismatch) fails the op and leaves the old version live", async () => {
    const before = await installV1(fast, "corrupt");
    const img = await pushBackendImage(registry, "backends/corrupt", "v2", {
      files: { big: noise(100_000) },
    });
    await corruptBlob(registry, (await layerDigests(registry, img.ref))[0]!);
    const op = await runOp(
      client,
      { nodeId: "fast", kind: "upgrade", backend: "corrupt", target: { uri: img.ref } },
      "failed",
    );
    expect(op.error).toMatch(/digest mismatch/);
    expect(await treeDigest(join(fast.dir, "corrupt"))).toEqual(before);
    expect(await readdir(join(fast.dir, ".staging"))).toEqual([]);
  });

  it("a connection dropped mid-blob is resumed with Range and the install completes", async () => {
    const img = await pushBackendImage(authed, "backends/resume", "1", { files: { big: noise(300_000) } });
    const ref = img.ref.replace(authed.host, proxy.host);
    proxy.faults = { dropBlobAt: 100_000, drops: 1 };
    proxy.dropped = 0;
    const op = await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "resume",
      target: { uri: ref },
    });
    proxy.faults = {};
    expect(op.result?.digest).toBe(img.digest);
    expect(proxy.dropped).toBe(1);
    expect(proxy.blobGets().some((r) => r.range?.startsWith("bytes="))).toBe(true);
  });

  it("a connection that always drops at the same byte fails the op; the old version stays live", async () => {
    const v1 = await pushBackendImage(authed, "backends/dropper", "1", { files: { v: "1" } });
    await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "dropper",
      target: { uri: v1.ref.replace(authed.host, proxy.host) },
    });
    const before = await treeDigest(join(fast.dir, "dropper"));
    const v2 = await pushBackendImage(authed, "backends/dropper", "2", { files: { big: noise(200_000) } });
    proxy.faults = { dropBlobAt: 50_000, drops: Infinity };
    const op = await runOp(
      client,
      {
        nodeId: "fast",
        kind: "upgrade",
        backend: "dropper",
        target: { uri: v2.ref.replace(authed.host, proxy.host) },
      },
      "failed",
    );
    proxy.faults = {};
    expect(op.error).toMatch(/download failed after \d+ attempts/);
    expect(await treeDigest(join(fast.dir, "dropper"))).toEqual(before);
    expect(await readdir(join(fast.dir, ".staging"))).toEqual([]);
  });

  it("follows a blob redirect to another host without sending it the Authorization header", async () => {
    const img = await pushBackendImage(authed, "backends/cdn", "1", { files: { big: noise(50_000) } });
    proxy.faults = { redirect: true };
    const seenBefore = proxy.cdnSeen.length;
    const op = await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "cdn",
      target: { uri: img.ref.replace(authed.host, proxy.host) },
    });
    proxy.faults = {};
    expect(op.result?.digest).toBe(img.digest);
    const cdn = proxy.cdnSeen.slice(seenBefore);
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.every((r) => r.authorization === undefined)).toBe(true);
    expect(proxy.blobGets().some((r) => r.authorization?.startsWith("Basic "))).toBe(true);
  });

  it("falls back to a mirror when the primary does not answer", async () => {
    const img = await pushBackendImage(registry, "backends/mirrored", "1", {});
    const op = await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "mirrored",
      target: { uri: `${registry.host}/backends/missing:1`, mirrors: [img.ref] },
    });
    expect(op.result?.digest).toBe(img.digest);
    const md = JSON.parse(await readFile(join(fast.dir, "mirrored", "metadata.json"), "utf8"));
    expect(md.uri).toBe(img.ref);
  });

  it("uses the master- tag when the latest- tag is missing", async () => {
    const img = await pushBackendImage(registry, "backends/flavours", "master-cpu-x", {});
    const op = await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "flavour",
      target: { uri: `${registry.host}/backends/flavours:latest-cpu-x` },
    });
    expect(op.result?.digest).toBe(img.digest);
  });

  it("cancel mid-download: cancelled within 1 s of the signal, old version intact, no staging left", async () => {
    const before = await installV1(slow, "cancel-me");
    const img = await pushBackendImage(registry, "backends/cancel-me", "v2", {
      files: { big: noise(4_000_000) },
    });
    const events: ProgressEvent[] = [];
    const unsub = client.onProgress((e) => events.push(e), "slow");
    const opId = await submit(client, {
      nodeId: "slow",
      kind: "upgrade",
      backend: "cancel-me",
      target: { uri: img.ref },
    });
    await waitFor("download under way", () => events.some((e) => e.opId === opId && e.bytesDone > 200_000));
    await cancelOp(client, "slow", opId);
    const op = await waitOp(client, "slow", opId, ["cancelled"], 5_000);
    unsub();
    expect(op.attempts).toBe(1);
    expect(await treeDigest(join(slow.dir, "cancel-me"))).toEqual(before);
    expect(await readdir(join(slow.dir, ".staging"))).toEqual([]);
  });

  it("a cancel signal alone does not stop an op: the agent obeys it only when the record says cancelling", async () => {
    const img = await pushBackendImage(registry, "backends/signal-only", "1", {
      files: { big: noise(1_500_000) },
    });
    const events: ProgressEvent[] = [];
    const unsub = client.onProgress((e) => events.push(e), "slow");
    const opId = await submit(client, {
      nodeId: "slow",
      kind: "install",
      backend: "signal-only",
      target: { uri: img.ref },
    });
    await waitFor("download under way", () => events.some((e) => e.opId === opId && e.bytesDone > 100_000));
    unsub();
    // Well formed and on the right subject, but the record still says running.
    client.publish(client.subjects.cancel("slow", opId), { v: 1, opId, nodeId: "slow" });
    await client.nc.flush();
    const op = await waitOp(client, "slow", opId, ["succeeded", "failed", "cancelled"], 15_000);
    expect(op.state).toBe("succeeded");
    expect(op.attempts).toBe(1);
  });

  it("a cancel that arrives before the op starts means it never starts", async () => {
    // The record is already `cancelling` when the agent reads it: it is closed without running.
    const opId = await submit(client, {
      nodeId: "fast",
      kind: "install",
      backend: "never",
      target: { uri: `${registry.host}/backends/never:1` },
      state: "cancelling",
    });
    const op = await waitOp(client, "fast", opId, ["cancelled"]);
    expect(op.attempts).toBe(0);
    expect(op.startedAt).toBeUndefined();

    // A queued op the controller cancels while it waits behind another op on the same name.
    const busy = await pushBackendImage(registry, "backends/queue", "1", {
      files: { big: noise(1_500_000) },
    });
    const first = await submit(client, {
      nodeId: "slow",
      kind: "install",
      backend: "queue",
      target: { uri: busy.ref },
    });
    await waitFor(
      "first op running",
      async () => (await opRecord(client, "slow", first))?.state === "running",
    );
    const second = await submit(client, {
      nodeId: "slow",
      kind: "reinstall",
      backend: "queue",
      target: { uri: busy.ref },
    });
    await cancelOp(client, "slow", second);
    await waitOp(client, "slow", first, ["succeeded"]);
    const rec = await waitOp(client, "slow", second, ["cancelled"]);
    expect(rec.attempts).toBe(0);
    expect(rec.startedAt).toBeUndefined();
    await workDrained(client, "slow", "work item acked");
  });

  it("ops on one name run one after the other in submission order; two names run in parallel", async () => {
    const a = await pushBackendImage(registry, "backends/par-a", "1", { files: { big: noise(400_000) } });
    const b = await pushBackendImage(registry, "backends/par-b", "1", { files: { big: noise(400_000) } });
    const onA = (kind: "install" | "reinstall") =>
      submit(client, { nodeId: "slow", kind, backend: "par-a", target: { uri: a.ref } });
    const a1 = await onA("install");
    const a2 = await onA("reinstall");
    const b1 = await submit(client, {
      nodeId: "slow",
      kind: "install",
      backend: "par-b",
      target: { uri: b.ref },
    });
    const a3 = await onA("reinstall");
    const a4 = await onA("reinstall");
    const [ra1, ra2, rb1, ra3, ra4] = await Promise.all(
      [a1, a2, b1, a3, a4].map((id) => waitOp(client, "slow", id, ["succeeded"])),
    );
    const onName = [ra1!, ra2!, ra3!, ra4!];
    for (let i = 1; i < onName.length; i++) {
      expect(onName[i]!.startedAt!).toBeGreaterThanOrEqual(onName[i - 1]!.finishedAt!);
    }
    expect(rb1!.startedAt!).toBeLessThan(ra1!.finishedAt!);
    expect(ra1!.startedAt!).toBeLessThan(rb1!.finishedAt!);
  });

  it("an op whose names take longer to work out still runs before a later op on one of them", async () => {
    const c = await pushBackendImage(registry, "backends/ord-c", "1", { files: { big: noise(200_000) } });
    // Through a meta, the first op locks two names; the second locks one. Working out a name's
    // lock set reads every meta pointer on the node, so with many of them the first op's lookup
    // takes far longer than the second's.
    const pads = Array.from({ length: 200 }, (_, i) => `ord-pad-${i}`);
    for (const name of pads) await slow.agent.store.writeMeta({ name, meta_backend_for: "ord-none" });
    onTestFinished(() => Promise.all(pads.map((name) => slow.agent.store.removeMeta(name))).then(() => {}));
    const viaMeta = await submit(client, {
      nodeId: "slow",
      kind: "install",
      backend: "ord-m",
      target: { name: "ord-c", meta: "ord-m", uri: c.ref },
    });
    const direct = await submit(client, {
      nodeId: "slow",
      kind: "reinstall",
      backend: "ord-c",
      target: { uri: c.ref },
    });
    const [first, second] = await Promise.all(
      [viaMeta, direct].map((id) => waitOp(client, "slow", id, ["succeeded"])),
    );
    expect(second!.startedAt!).toBeGreaterThanOrEqual(first!.finishedAt!);
  });

  it("progress covers all layers, is monotonic, and never exceeds 4 events per second per op", async () => {
    const { buildImage, pushImage, parseImageRef } = await import("../../src/oci/index.js");
    const { makeBackendDir } = await import("../harness/oci-image.js");
    const dirs = [
      await makeBackendDir({ files: { a: noise(700_000) } }),
      await makeBackendDir({ files: { b: noise(700_000) } }),
      await makeBackendDir({ files: { c: noise(700_000) } }),
    ];
    const img = await buildImage(dirs);
    const ref = registry.ref("backends/layers", "3");
    await pushImage(registry.client(), parseImageRef(ref), img);
    const total = img.layers.reduce((s, l) => s + l.size, 0);
    await img.dispose();
    const events: ProgressEvent[] = [];
    const unsub = client.onProgress((e) => events.push(e), "slow");
    const opId = await submit(client, {
      nodeId: "slow",
      kind: "install",
      backend: "layers",
      target: { uri: ref },
    });
    await waitOp(client, "slow", opId, ["succeeded"]);
    await waitFor("final event", () => events.some((e) => e.opId === opId && e.final));
    unsub();
    const mine = events.filter((e) => e.opId === opId);
    expect(mine.at(-1)).toMatchObject({ final: true, bytesDone: total, bytesTotal: total });
    for (let i = 1; i < mine.length; i++)
      expect(mine[i]!.bytesDone).toBeGreaterThanOrEqual(mine[i - 1]!.bytesDone);
    for (const e of mine) {
      const inWindow = mine.filter((x) => x.at >= e.at && x.at < e.at + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(4);
    }
    expect(mine.length).toBeGreaterThanOrEqual(4);
    expect(mine.some((e) => e.phase === "downloading" && e.bytesPerSec > 0 && e.etaSec !== null)).toBe(true);
    const order = ["resolving", "downloading", "verifying", "extracting", "activating"];
    const idx = mine.map((e) => order.indexOf(e.phase));
    for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThanOrEqual(idx[i - 1]!);
  });

  it("refuses to start when free disk is below twice the download plus the margin", async () => {
    const tiny = await startAgent(nats.url, {
      nodeId: "tiny",
      freeBytes: async () => 2_000_000,
      diskMarginBytes: 1_000_000,
    });
    try {
      const img = await pushBackendImage(registry, "backends/huge", "1", { files: { big: noise(600_000) } });
      const op = await runOp(
        client,
        { nodeId: "tiny", kind: "install", backend: "huge", target: { uri: img.ref } },
        "failed",
      );
      expect(op.error).toMatch(/not enough free disk .* need/);
      expect(await readdir(tiny.dir)).not.toContain("huge");
    } finally {
      await tiny.stop();
    }
  });

  it("gives up after 3 attempts with the last error", async () => {
    const opId = "op-exhausted";
    const now = Date.now();
    await client.create("ops", opKey("fast", opId), {
      v: 1,
      id: opId,
      nodeId: "fast",
      kind: "install",
      backend: "crashy",
      target: { name: "crashy", uri: `${registry.host}/backends/crashy:1`, mirrors: [] },
      state: "running",
      phase: "downloading",
      requestedBy: "test",
      createdAt: now,
      updatedAt: now,
      attempts: 3,
      dismissed: false,
    });
    await client.js.publish(client.subjects.work("fast"), encode({ v: 1, opId, nodeId: "fast" }), {
      msgID: opId,
    });
    const op = await waitOp(client, "fast", opId, ["failed"]);
    expect(op.error).toMatch(/gave up after 3 attempts; the last was interrupted while downloading/);
  });

  it("logs and drops a malformed work item, then keeps working", async () => {
    client.nc.publish(client.subjects.work("fast"), "not json");
    await client.js.publish(client.subjects.work("fast"), encode({ v: 9, opId: "x" }));
    await workDrained(client, "fast", "junk work item dropped");
    const img = await pushBackendImage(registry, "backends/after-junk", "1", {});
    await runOp(client, { nodeId: "fast", kind: "install", backend: "after-junk", target: { uri: img.ref } });
  });

  it("drops a work item whose op record is malformed, then keeps working", async () => {
    await client.bucket("ops").put(opKey("fast", "op-garbled"), new TextEncoder().encode('{"v":1,"id":3}'));
    await client.js.publish(
      client.subjects.work("fast"),
      encode({ v: 1, opId: "op-garbled", nodeId: "fast" }),
    );
    await workDrained(client, "fast", "work item dropped");
    const img = await pushBackendImage(registry, "backends/after-garbled", "1", {});
    await runOp(client, {
      nodeId: "fast",
      kind: "install",
      backend: "after-garbled",
      target: { uri: img.ref },
    });
  });

  it("keeps taking work after the NATS server restarts", async () => {
    await nats.restart();
    const img = await pushBackendImage(registry, "backends/after-restart", "1", {});
    await waitFor("client reconnected", () => client.status.state === "connected", 15_000);
    const op = await runOp(
      client,
      { nodeId: "fast", kind: "install", backend: "after-restart", target: { uri: img.ref } },
      "succeeded",
      30_000,
    );
    expect(op.attempts).toBe(1);
  });

  describe("malicious archives fail the op and write nothing outside staging", () => {
    const outside = `bp-outside-${process.pid}`;
    const cases: Array<[string, TarItem[], RegExp]> = [
      ["absolute path", [RUN_SH, { path: `/tmp/${outside}/abs.txt`, body: "x" }], /absolute path/],
      ["'..' path", [RUN_SH, { path: `../../${outside}.txt`, body: "x" }], /'\.\.'/],
      [
        "symlink outside, then a write through it",
        [
          RUN_SH,
          { path: "lib", type: "SymbolicLink", linkpath: "/tmp" },
          { path: `lib/${outside}`, body: "x" },
        ],
        /symbolic link to \/tmp points outside/,
      ],
      [
        "relative symlink climbing out",
        [RUN_SH, { path: "a/up", type: "SymbolicLink", linkpath: "../../../.." }],
        /points outside/,
      ],
      [
        "symlink redirected after the fact (b -> . then a -> b/..)",
        [
          RUN_SH,
          { path: "a", type: "SymbolicLink", linkpath: "b/../x" },
          { path: "b", type: "SymbolicLink", linkpath: "." },
        ],
        /redirect the target of a/,
      ],
      [
        "hardlink outside",
        [RUN_SH, { path: "hl", type: "Link", linkpath: `../../${outside}` }, { path: "hl", body: "pwned" }],
        /hard link .* outside|'\.\.'/,
      ],
      ["character device", [RUN_SH, { path: "null", type: "CharacterDevice" }], /character device/],
      ["FIFO", [RUN_SH, { path: "pipe", type: "FIFO" }], /FIFO/],
    ];
    for (const [what, items, why] of cases) {
      it(what, async () => {
        const dir = await tempDir("evil");
        const file = join(dir, "evil.tar.gz");
        const { writeFile } = await import("node:fs/promises");
        await writeFile(file, tarball(items));
        const rootBefore = (await readdir(fast.dir)).sort();
        const op = await runOp(
          client,
          { nodeId: "fast", kind: "install", backend: "evil", target: { uri: `file://${file}` } },
          "failed",
        );
        expect(op.error).toMatch(why);
        expect(op.error).toMatch(/refusing/);
        expect((await readdir(fast.dir)).sort()).toEqual(rootBefore);
        expect(await readdir(join(fast.dir, ".staging"))).toEqual([]);
        expect(await stat(`/tmp/${outside}`).catch(() => null)).toBeNull();
        expect(await stat(`/tmp/${outside}.txt`).catch(() => null)).toBeNull();
        expect(await stat(join(fast.dir, "..", outside)).catch(() => null)).toBeNull();
      });
    }

    it("caps the total bytes and entry count", async () => {
      const capped = await startAgent(nats.url, {
        nodeId: "capped",
        limits: { maxBytes: 10_000, maxEntries: 5 },
      });
      try {
        const dir = await tempDir("evil");
        const { writeFile } = await import("node:fs/promises");
        await writeFile(
          join(dir, "big.tar.gz"),
          tarball([RUN_SH, { path: "big", body: Buffer.alloc(20_000) }]),
        );
        await writeFile(
          join(dir, "many.tar.gz"),
          tarball([RUN_SH, ...Array.from({ length: 6 }, (_, i) => ({ path: `f${i}`, body: "x" }))]),
        );
        const big = await runOp(
          client,
          { nodeId: "capped", kind: "install", backend: "big", target: { uri: `file://${dir}/big.tar.gz` } },
          "failed",
        );
        expect(big.error).toMatch(/more than 10000 bytes/);
        const many = await runOp(
          client,
          {
            nodeId: "capped",
            kind: "install",
            backend: "many",
            target: { uri: `file://${dir}/many.tar.gz` },
          },
          "failed",
        );
        expect(many.error).toMatch(/more than 5 entries/);
      } finally {
        await capped.stop();
      }
    });
  });
});
