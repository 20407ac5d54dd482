import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
  type FileHandle,
} from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, type Logger } from "../lib/log.js";
import { NameLocks } from "./locks.js";

const HEX = /^[a-f0-9]{64}$/;
const PARTIAL = ".partial";
/** The largest image seen, kept across restarts (the default bound is twice it). */
const LARGEST = "largest-image";

export interface BlobCacheOptions {
  /** `<backends root>/.blobs`: private, a dot-directory without run.sh, never a backend to LocalAI. */
  dir: string;
  /** Bound on the cache's bytes; default twice the largest image seen. 0 turns the cache off. */
  maxBytes?: number;
  log: Logger;
}

/** One blob held by one download: the only writer of its file until `release()`. */
export interface HeldBlob {
  readonly digest: string;
  /** Bytes on disk: the whole blob when complete, a prefix of it when partial, 0 when none. */
  readonly size: number;
  /** Where those bytes are (absent when size is 0). */
  readonly path: string;
  readonly complete: boolean;
  /** Append the next bytes of the blob (best effort: a write error stops caching this blob). */
  append(chunk: Uint8Array): Promise<void>;
  /** The blob was verified whole: keep it as complete. */
  finish(): Promise<void>;
  /** The bytes are not to be trusted: remove them. */
  discard(): Promise<void>;
  release(): Promise<void>;
}

interface Entry {
  size: number;
  usedAt: number;
}

/** The digest hex a cache file holds: `<hex>` or `<hex>.partial`. */
const hexOf = (name: string) => (name.endsWith(PARTIAL) ? name.slice(0, -PARTIAL.length) : name);

/**
 * Layers kept across attempts, addressed by digest: `<hex>.partial` while downloading (a prefix of
 * the blob, appended to in order, so a kill leaves a usable prefix), `<hex>` once verified whole.
 * A retried op resumes a partial with Range and streams a complete one from disk; both go through
 * the same digest check as a download. Least recently used entries go first when over the bound.
 * One holder per digest at a time (in this process; one agent owns a backends dir), so the sizes
 * and use times of the files are kept in memory: read once at start, updated by every write.
 */
export class BlobCache {
  private largestImage = 0;
  private readonly locks = new NameLocks();
  /** File name -> what is on disk. */
  private readonly files = new Map<string, Entry>();

  constructor(private readonly o: BlobCacheOptions) {}

  get dir(): string {
    return this.o.dir;
  }

  get enabled(): boolean {
    return this.o.maxBytes !== 0;
  }

  get maxBytes(): number {
    return this.o.maxBytes ?? 2 * this.largestImage;
  }

  async init(): Promise<void> {
    if (!this.enabled) {
      await rm(this.o.dir, { recursive: true, force: true });
      return;
    }
    await mkdir(this.o.dir, { recursive: true });
    const n = Number(await readFile(join(this.o.dir, LARGEST), "utf8").catch(() => "0"));
    if (Number.isSafeInteger(n) && n > 0) this.largestImage = n;
    this.files.clear();
    for (const name of await readdir(this.o.dir)) {
      if (!HEX.test(hexOf(name))) continue;
      const st = await stat(join(this.o.dir, name)).catch(() => null);
      if (st?.isFile()) this.files.set(name, { size: st.size, usedAt: st.mtimeMs });
    }
  }

  /** An image of `bytes` is about to be fetched: the default bound follows the largest. */
  async noteImage(bytes: number): Promise<void> {
    if (bytes <= this.largestImage || !this.enabled) return;
    this.largestImage = bytes;
    await writeFile(join(this.o.dir, LARGEST), String(bytes)).catch(() => {});
  }

  /** Wait until no other download holds `digest`, then hold it. */
  async hold(digest: string, expectedSize: number, signal: AbortSignal): Promise<HeldBlob> {
    const hex = digest.replace(/^sha256:/, "");
    if (!HEX.test(hex)) throw new Error(`not a sha256 digest: ${digest}`);
    const release = await this.locks.acquire([hex], signal);
    try {
      return await this.open(hex, digest, expectedSize, release);
    } catch (e) {
      release();
      throw e;
    }
  }

  /** What is on disk under `name` now (a stat: the held blob's own files are not taken on trust). */
  private async sync(name: string): Promise<number | undefined> {
    const st = await stat(join(this.o.dir, name)).catch(() => null);
    if (!st?.isFile()) {
      this.files.delete(name);
      return undefined;
    }
    this.files.set(name, { size: st.size, usedAt: st.mtimeMs });
    return st.size;
  }

  private async remove(name: string): Promise<void> {
    this.files.delete(name);
    await rm(join(this.o.dir, name), { force: true });
  }

  private async open(
    hex: string,
    digest: string,
    expectedSize: number,
    release: () => void,
  ): Promise<HeldBlob> {
    const partialName = hex + PARTIAL;
    const complete = join(this.o.dir, hex);
    const partial = join(this.o.dir, partialName);
    const log = this.o.log;
    const files = this.files;
    let size = 0;
    let path = partial;
    let isComplete = false;
    const whole = await this.sync(hex);
    if (whole === expectedSize) {
      [size, path, isComplete] = [whole, complete, true];
    } else {
      if (whole !== undefined) await this.remove(hex);
      const part = await this.sync(partialName);
      if (part !== undefined && part < expectedSize) size = part;
      else if (part !== undefined) await this.remove(partialName);
    }
    if (size > 0) {
      await utimes(path, new Date(), new Date()).catch(() => {});
      files.set(isComplete ? hex : partialName, { size, usedAt: Date.now() });
    }
    // Room for what is still to come, or no caching of this blob at all.
    let caching = !isComplete && (await this.makeRoom(expectedSize - size));
    let fh: FileHandle | undefined;
    const stopCaching = async (why: unknown) => {
      if (!caching) return;
      caching = false;
      log.warn("not caching a blob", { digest, error: errorMessage(why) });
      await fh?.close().catch(() => {});
      fh = undefined;
      await this.remove(partialName);
    };
    let released = false;
    return {
      digest,
      size,
      path,
      complete: isComplete,
      async append(chunk) {
        if (!caching) return;
        try {
          fh ??= await open(partial, "a");
          await fh.write(chunk);
          const had = files.get(partialName)?.size ?? 0;
          files.set(partialName, { size: had + chunk.byteLength, usedAt: Date.now() });
        } catch (e) {
          await stopCaching(e);
        }
      },
      finish: async () => {
        // A partial read but no longer written to (no room for the rest): it will not complete.
        if (!caching && !isComplete && size > 0) await this.remove(partialName);
        if (!caching) return;
        try {
          await fh?.close();
          fh = undefined;
          await rename(partial, complete);
          files.set(hex, { size: files.get(partialName)?.size ?? 0, usedAt: Date.now() });
          files.delete(partialName);
        } catch (e) {
          await stopCaching(e);
        }
      },
      discard: async () => {
        caching = false;
        await fh?.close().catch(() => {});
        fh = undefined;
        await this.remove(partialName);
        await this.remove(hex);
      },
      async release() {
        if (released) return;
        released = true;
        await fh?.close().catch(() => {});
        release();
      },
    };
  }

  /** Bytes the cache holds now. */
  bytes(): number {
    let total = 0;
    for (const e of this.files.values()) total += e.size;
    return total;
  }

  /**
   * Remove least recently used entries, never one held or named in `keep` (hex), until
   * `enough(bytes still cached, bytes freed)`.
   */
  private async evict(
    enough: (total: number, freed: number) => boolean,
    keep: ReadonlySet<string> = new Set(),
  ): Promise<{ total: number; freed: number }> {
    let total = this.bytes();
    let freed = 0;
    const victims = [...this.files]
      .filter(([name]) => !keep.has(hexOf(name)))
      .sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [name, e] of victims) {
      if (enough(total, freed)) break;
      // Checked at each step: a victim may have been taken by a download meanwhile.
      if (this.locks.has(hexOf(name))) continue;
      await this.remove(name);
      total -= e.size;
      freed += e.size;
      this.o.log.debug("evicted a cached blob", { blob: name, bytes: e.size });
    }
    return { total, freed };
  }

  /**
   * Evict least recently used entries (never one held) until `need` more bytes fit under the
   * bound; false when they cannot.
   */
  async makeRoom(need: number): Promise<boolean> {
    const max = this.maxBytes;
    if (need > max) return false;
    const { total } = await this.evict((t) => t + need <= max);
    return total + need <= max;
  }

  /**
   * Free up to `bytes` of disk for an install that is short of it, least recently used first,
   * never a held entry nor one of `keep` (the digests of the image being installed: evicting them
   * would only download them again); returns the bytes removed.
   */
  async shrink(bytes: number, keep: Iterable<string> = []): Promise<number> {
    const spare = new Set([...keep].map((d) => d.replace(/^sha256:/, "")));
    const { freed } = await this.evict((_t, f) => f >= bytes, spare);
    if (freed > 0) this.o.log.info("evicted cached blobs for disk space", { bytes: freed });
    return freed;
  }

  /** After an install: keep what the bound allows, least recently used out first. */
  async trim(): Promise<void> {
    if (this.enabled) await this.makeRoom(0);
  }
}
