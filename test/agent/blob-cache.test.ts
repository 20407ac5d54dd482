import { createHash } from "node:crypto";
import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BlobCache } from "../../src/agent/blob-cache.js";
import { silentLogger } from "../../src/lib/log.js";
import { tempDir } from "../harness/proc.js";

const digestOf = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;
const never = new AbortController().signal;

async function cacheWith(maxBytes: number, entries: Array<[string, number]>) {
  const dir = await tempDir("blobs");
  const cache = new BlobCache({ dir, maxBytes, log: silentLogger });
  await cache.init();
  for (const [name, ageS] of entries) {
    const file = join(dir, digestOf(name).slice(7));
    await writeFile(file, Buffer.alloc(100));
    const t = new Date(Date.now() - ageS * 1000);
    await utimes(file, t, t);
  }
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

  it("one holder per digest: the second waits until the first releases", async () => {
    const { cache } = await cacheWith(1_000, []);
    const d = digestOf("y");
    const first = await cache.hold(d, 10, never);
    let second = false;
    const waiting = cache.hold(d, 10, never).then((h) => {
      second = true;
      return h;
    });
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    await first.release();
    await (await waiting).release();
    expect(second).toBe(true);
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

  it("gives disk back for an install that is short of it", async () => {
    const { cache } = await cacheWith(1_000, [
      ["a", 30],
      ["b", 20],
      ["c", 10],
    ]);
    expect(await cache.shrink(150)).toBe(200);
    expect(await cache.bytes()).toBe(100);
  });
});
