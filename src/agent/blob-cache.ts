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
  hex: string;
  path: string;
  size: number;
  usedAt: number;
}

/**
 * Layers kept across attempts, addressed by digest: `<hex>.partial` while downloading (a prefix of
 * the blob, appended to in order, so a kill leaves a usable prefix), `<hex>` once verified whole.
 * A retried op resumes a partial with Range and streams a complete one from disk; both go through
 * the same digest check as a download. Least recently used entries go first when over the bound.
 * One holder per digest at a time (in this process; one agent owns a backends dir).
 */
export class BlobCache {
  private largestImage = 0;
  private readonly holders = new Map<string, Promise<void>>();
  private readonly held = new Set<string>();

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
    for (;;) {
      const busy = this.holders.get(hex);
      if (!busy) break;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        signal.addEventListener("abort", onAbort, { once: true });
        void busy.then(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
    if (signal.aborted) throw signal.reason;
    let free!: () => void;
    this.holders.set(hex, new Promise<void>((r) => (free = r)));
    this.held.add(hex);
    const release = () => {
      this.held.delete(hex);
      this.holders.delete(hex);
      free();
    };
    try {
      return await this.open(hex, digest, expectedSize, release);
    } catch (e) {
      release();
      throw e;
    }
  }

  private async open(
    hex: string,
    digest: string,
    expectedSize: number,
    release: () => void,
  ): Promise<HeldBlob> {
    const complete = join(this.o.dir, hex);
    const partial = complete + PARTIAL;
    const log = this.o.log;
    const sizeOf = async (p: string) => (await stat(p).catch(() => null))?.size;
    let size = 0;
    let path = partial;
    let isComplete = false;
    if (this.enabled) {
      const whole = await sizeOf(complete);
      if (whole === expectedSize) {
        [size, path, isComplete] = [whole, complete, true];
      } else {
        if (whole !== undefined) await rm(complete, { force: true });
        const part = await sizeOf(partial);
        if (part !== undefined && part < expectedSize) size = part;
        else if (part !== undefined) await rm(partial, { force: true });
      }
      if (size > 0) await utimes(path, new Date(), new Date()).catch(() => {});
    }
    // Room for what is still to come, or no caching of this blob at all.
    let caching = this.enabled && !isComplete && (await this.makeRoom(expectedSize - size, hex));
    let fh: FileHandle | undefined;
    const stopCaching = async (why: unknown) => {
      if (!caching) return;
      caching = false;
      log.warn("not caching a blob", { digest, error: errorMessage(why) });
      await fh?.close().catch(() => {});
      fh = undefined;
      await rm(partial, { force: true });
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
        } catch (e) {
          await stopCaching(e);
        }
      },
      async finish() {
        // A partial read but no longer written to (no room for the rest): it will not complete.
        if (!caching && !isComplete && size > 0) await rm(partial, { force: true });
        if (!caching) return;
        try {
          await fh?.close();
          fh = undefined;
          await rename(partial, complete);
        } catch (e) {
          await stopCaching(e);
        }
      },
      async discard() {
        caching = false;
        await fh?.close().catch(() => {});
        fh = undefined;
        await rm(partial, { force: true });
        await rm(complete, { force: true });
      },
      async release() {
        if (released) return;
        released = true;
        await fh?.close().catch(() => {});
        release();
      },
    };
  }

  private async entries(): Promise<Entry[]> {
    const out: Entry[] = [];
    for (const name of await readdir(this.o.dir).catch(() => [] as string[])) {
      const hex = name.endsWith(PARTIAL) ? name.slice(0, -PARTIAL.length) : name;
      if (!HEX.test(hex)) continue;
      const path = join(this.o.dir, name);
      const st = await stat(path).catch(() => null);
      if (st?.isFile()) out.push({ hex, path, size: st.size, usedAt: st.mtimeMs });
    }
    return out;
  }

  /** Bytes the cache holds now. */
  async bytes(): Promise<number> {
    return (await this.entries()).reduce((s, e) => s + e.size, 0);
  }

  /**
   * Evict least recently used entries (never one held) until `need` more bytes fit under the
   * bound; false when they cannot.
   */
  async makeRoom(need: number, except?: string): Promise<boolean> {
    const max = this.maxBytes;
    if (need > max) return false;
    const all = await this.entries();
    let total = all.reduce((s, e) => s + e.size, 0);
    const victims = all
      .filter((e) => e.hex !== except && !this.held.has(e.hex))
      .sort((a, b) => a.usedAt - b.usedAt);
    for (const v of victims) {
      if (total + need <= max) break;
      await rm(v.path, { force: true });
      total -= v.size;
      this.o.log.debug("evicted a cached blob", { blob: v.hex, bytes: v.size });
    }
    return total + need <= max;
  }

  /**
   * Free up to `bytes` of disk for an install that is short of it, least recently used first
   * (never a held entry); returns the bytes removed.
   */
  async shrink(bytes: number): Promise<number> {
    let freed = 0;
    const victims = (await this.entries())
      .filter((e) => !this.held.has(e.hex))
      .sort((a, b) => a.usedAt - b.usedAt);
    for (const v of victims) {
      if (freed >= bytes) break;
      await rm(v.path, { force: true });
      freed += v.size;
    }
    if (freed > 0) this.o.log.info("evicted cached blobs for disk space", { bytes: freed });
    return freed;
  }

  /** After an install: keep what the bound allows, least recently used out first. */
  async trim(): Promise<void> {
    if (this.enabled) await this.makeRoom(0);
  }
}
