import { createHash } from "node:crypto";
import { readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobCache } from "../../src/agent/blob-cache.js";
import { DEFAULT_LIMITS, extractState } from "../../src/agent/extract.js";
import { BackendStore } from "../../src/agent/generations.js";
import { Installer } from "../../src/agent/installer.js";
import { ociSource } from "../../src/agent/sources/oci.js";
import { silentLogger } from "../../src/lib/log.js";
import { RegistryClient } from "../../src/oci/registry-client.js";
import { tempDir } from "../harness/proc.js";
import { RUN_SH, tarball } from "./archives.js";
import { noise } from "./helpers.js";
import { OciServer } from "./servers.js";

const digestOf = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
const never = new AbortController().signal;

async function cacheWith(maxBytes: number, entries: Array<[string, number]>) {
  const dir = await tempDir("blobs");
  for (const [name, ageS] of entries) {
    const file = join(dir, digestOf(name).slice(7));
    await writeFile(file, Buffer.alloc(100));
    const t = new Date(Date.now() - ageS * 1000);
    await utimes(file, t, t);
  }
  // What was there at start: the cache reads it once.
  const cache = new BlobCache({ dir, maxBytes, log: silentLogger });
  await cache.init();
  return { dir, cache };
}

describe("BlobCache", () => {
  it("a partial is appended to, kept across holders, and becomes complete when finished", async () => {
    const { dir, cache } = await cacheWith(1_000, []);
    const d = digestOf("x");
    const a = await cache.hold(d, 10, never);
    expect(a.size).toBe(0);
    await a.append(Buffer.from("01234"));
    await a.release();
    const b = await cache.hold(d, 10, never);
    expect([b.size, b.complete]).toEqual([5, false]);
    await b.append(Buffer.from("56789"));
    await b.finish();
    await b.release();
    expect(await readFile(join(dir, d.slice(7)), "utf8")).toBe("0123456789");
    const c = await cache.hold(d, 10, never);
    expect([c.size, c.complete]).toEqual([10, true]);
    await c.release();
  });

  it("makes room least recently used first, never evicting a held entry", async () => {
    const { dir, cache } = await cacheWith(300, [
      ["old", 30],
      ["mid", 20],
      ["new", 10],
    ]);
    const held = await cache.hold(digestOf("old"), 100, never);
    expect(await cache.makeRoom(100)).toBe(true);
    const left = await readdir(dir);
    expect(left).toContain(digestOf("old").slice(7));
    expect(left).not.toContain(digestOf("mid").slice(7));
    expect(left).toContain(digestOf("new").slice(7));
    await held.release();
  });

  it("keeps its sizes in memory, following every write and removal", async () => {
    const { dir, cache } = await cacheWith(1_000, [["old", 30]]);
    expect(cache.bytes()).toBe(100);
    const d = digestOf("z");
    const h = await cache.hold(d, 10, never);
    await h.append(Buffer.from("0123"));
    expect(cache.bytes()).toBe(104);
    await h.append(Buffer.from("456789"));
    await h.finish();
    await h.release();
    expect(cache.bytes()).toBe(110);
    const again = await cache.hold(d, 10, never);
    await again.discard();
    await again.release();
    expect(cache.bytes()).toBe(100);
    expect(await readdir(dir)).toEqual([digestOf("old").slice(7)]);
  });

  it("gives disk back for an install that is short of it, keeping the entries it is told to", async () => {
    const { cache } = await cacheWith(1_000, [
      ["a", 30],
      ["b", 20],
      ["c", 10],
    ]);
    expect(await cache.shrink(150, [digestOf("a")])).toBe(200);
    expect(cache.bytes()).toBe(100);
    expect(await cache.shrink(100, [digestOf("a")])).toBe(0);
  });

  it("gives disk back for an install that is short of it", async () => {
    const { cache } = await cacheWith(1_000, [
      ["a", 30],
      ["b", 20],
      ["c", 10],
    ]);
    expect(await cache.shrink(150)).toBe(200);
    expect(cache.bytes()).toBe(100);
  });
});

describe("OCI layers through the blob cache (a loopback registry)", () => {
  let server: OciServer;
  beforeAll(async () => {
    server = await OciServer.start(
      tarball([RUN_SH, { path: "data.bin", body: noise(256 * 1024).toString("base64") }]),
    );
  });
  afterAll(() => server.dispose());

  /** Pull the image into a fresh staging dir the way the installer does. */
  async function pull(cache: BlobCache): Promise<string | undefined> {
    const staging = await tempDir("staging");
    const source = ociSource(server.ref, {
      registry: new RegistryClient(),
      insecureHosts: [],
      log: silentLogger,
      blobs: cache,
      retries: 1,
    });
    const resolved = await source.resolve(never);
    const state = await extractState(DEFAULT_LIMITS, {
      root: staging,
      marginBytes: 0,
      freeBytes: async () => 1e12,
    });
    return (await resolved.fetch({ signal: never, staging, state, onBytes: () => {} })).digest;
  }

  it("two concurrent pulls of one layer make one network request: the second reads the first's bytes", async () => {
    const { dir, cache } = await cacheWith(10_000_000, []);
    const before = server.blobGets().length;
    const digests = await Promise.all([pull(cache), pull(cache)]);
    expect(digests).toEqual([server.manifestDigest, server.manifestDigest]);
    expect(server.blobGets().length - before).toBe(1);
    expect((await readFile(join(dir, server.layerDigest.slice(7)))).equals(server.layer)).toBe(true);
  });

  it("a registry that resumes past the cached prefix is refused, and the prefix kept", async () => {
    const { dir, cache } = await cacheWith(10_000_000, []);
    const partial = join(dir, `${server.layerDigest.slice(7)}.partial`);
    const kept = Math.floor(server.layer.length / 3);
    await writeFile(partial, server.layer.subarray(0, kept));
    server.rangeShift = 5;
    try {
      await expect(pull(cache)).rejects.toThrow(`server resumed at ${kept + 5}, past byte ${kept}`);
    } finally {
      server.rangeShift = 0;
    }
    expect(server.blobGets().at(-1)?.range).toBe(`bytes=${kept}-`);
    expect((await readFile(partial)).length).toBe(kept);
  });

  it("disk short for an install: the layers of that very image stay cached, others go", async () => {
    const { dir, cache } = await cacheWith(10_000_000, [["other", 10]]);
    const layer = join(dir, server.layerDigest.slice(7));
    await writeFile(layer, server.layer);
    const t = new Date(Date.now() - 60_000); // older than the other entry: first out by LRU alone
    await utimes(layer, t, t);
    await cache.init();
    const root = await tempDir("backends");
    const store = new BackendStore({ root, keep: 2, fsync: false });
    await store.init();
    const cached = async () => {
      let n = 0;
      for (const f of await readdir(dir)) if (f !== "largest-image") n += (await stat(join(dir, f))).size;
      return n;
    };
    // Twice the download (margin 0) is free only once the other entry is gone.
    const disk = 3 * server.layer.length + 99;
    const installer = new Installer({
      store,
      sources: { registry: new RegistryClient(), insecureHosts: [], log: silentLogger, blobs: cache },
      limits: DEFAULT_LIMITS,
      diskMarginBytes: 0,
      freeBytes: async () => disk - (await cached()),
      log: silentLogger,
    });
    const before = server.blobGets().length;
    const result = await installer.install({
      opId: "op1",
      kind: "install",
      target: { name: "img", uri: server.ref, mirrors: [] },
      signal: never,
      observe: { phase: async () => {}, total: () => {}, newAttempt: () => {}, bytes: () => {} },
    });
    expect(result.digest).toBe(server.manifestDigest);
    expect(server.blobGets().length - before).toBe(0);
    expect(await readdir(dir)).not.toContain(digestOf("other").slice(7));
  });
});
