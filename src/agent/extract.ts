import { lstatSync, readdirSync, rmSync } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib, { createGunzip } from "node:zlib";
import { Unpack } from "tar";
import { DiskGuard, type DiskWatch } from "./disk.js";
import { UnsafeArchiveError } from "./errors.js";
import { LayerWrites } from "./layer-writes.js";
import { PathLocks } from "./path-locks.js";

export interface ExtractLimits {
  /**
   * Cap on the sum of all file sizes across every layer of one install; by default the free space
   * of the backends dir less the margin, measured when the install starts.
   */
  maxBytes?: number;
  /** Cap on the number of entries across every layer of one install. */
  maxEntries: number;
}

export const DEFAULT_LIMITS: ExtractLimits = { maxEntries: 1_000_000 };

/** The directories above a path: "a/b/c" -> "a", "a/b". */
function* ancestors(path: string): Generator<string> {
  for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) yield path.slice(0, i);
}

/**
 * Symlink paths, with how many lie below each directory: replacing a path only looks for links
 * below it when there are some (a scan of every link for every entry was quadratic).
 */
class Links {
  private readonly paths = new Set<string>();
  private readonly below = new Map<string, number>();

  has(path: string): boolean {
    return this.paths.has(path);
  }

  add(path: string): void {
    if (this.paths.has(path)) return;
    this.paths.add(path);
    for (const d of ancestors(path)) this.below.set(d, (this.below.get(d) ?? 0) + 1);
  }

  /** `path` is something else now: neither it nor anything below it is a link any more. */
  forget(path: string): void {
    this.drop(path);
    if (!this.below.has(path)) return;
    const prefix = `${path}/`;
    for (const l of [...this.paths]) if (l.startsWith(prefix)) this.drop(l);
  }

  private drop(path: string): void {
    if (!this.paths.delete(path)) return;
    for (const d of ancestors(path)) {
      const n = this.below.get(d)! - 1;
      if (n === 0) this.below.delete(d);
      else this.below.set(d, n);
    }
  }
}

/**
 * What the archives of one install have put in the staging dir so far: totals for the caps, and
 * the symbolic links (with the paths their targets pass through) for the escape checks.
 */
export class ExtractState {
  bytes = 0;
  entries = 0;
  /** Normalised path of every symlink extracted so far. */
  readonly links = new Links();
  /** Intermediate directory paths some symlink target walks through -> that symlink. */
  readonly traversed = new Map<string, string>();
  /** What the layer being extracted has written (opaque whiteouts keep it). */
  layer = new LayerWrites();

  constructor(
    readonly limits: Required<ExtractLimits> = { maxBytes: Number.MAX_SAFE_INTEGER, ...DEFAULT_LIMITS },
    /** Stops the install before the disk fills; none in unit tests. */
    readonly disk?: DiskGuard,
  ) {}
}

/** The state for one install: the byte cap defaults to what the disk can take, and is watched. */
export async function extractState(limits: ExtractLimits, watch: DiskWatch): Promise<ExtractState> {
  const free = await watch.freeBytes(watch.root);
  const maxBytes = limits.maxBytes ?? Math.max(0, free - watch.marginBytes);
  return new ExtractState({ maxBytes, maxEntries: limits.maxEntries }, new DiskGuard(watch, free));
}

const ALLOWED = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);
const TYPE_NAMES: Record<string, string> = {
  CharacterDevice: "character device",
  BlockDevice: "block device",
  FIFO: "FIFO",
  Socket: "socket",
};

type Check = { ok: true; parts: string[] } | { ok: false; why: string };

/** A tar path as components below the root, or why it is refused. */
export function entryPath(raw: string): Check {
  if (raw.startsWith("/") || /^[A-Za-z]:[\\/]/.test(raw)) return { ok: false, why: "absolute path" };
  const parts = raw.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) return { ok: false, why: "path contains '..'" };
  return { ok: true, parts };
}

/**
 * Walk `components` from `start` (already resolved parts) the way the kernel would, refusing to
 * climb above the root or to pass through a known symlink on the way (the last component may be
 * one). Returns the resolved parts.
 */
function walk(start: string[], components: string[], isLink: (path: string) => boolean): Check {
  const cur = [...start];
  const steps = components.filter((c) => c !== "" && c !== ".");
  for (const [i, c] of steps.entries()) {
    if (c === "..") {
      if (cur.length === 0) return { ok: false, why: "points outside the backend directory" };
      cur.pop();
    } else {
      cur.push(c);
    }
    if (i < steps.length - 1 && isLink(cur.join("/"))) {
      return { ok: false, why: `passes through the symbolic link ${cur.join("/")}` };
    }
  }
  return { ok: true, parts: cur };
}

/** Intermediate paths a resolved walk visits (for later "a symlink may not appear here" checks). */
function intermediates(start: string[], components: string[]): string[] {
  const cur = [...start];
  const out: string[] = [];
  const steps = components.filter((c) => c !== "" && c !== ".");
  for (const [i, c] of steps.entries()) {
    if (c === "..") cur.pop();
    else cur.push(c);
    if (i < steps.length - 1 && cur.length > 0) out.push(cur.join("/"));
  }
  return out;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/**
 * Apply an OCI whiteout found in `parent`: `.wh..wh..opq` hides what earlier layers put in
 * `parent`, `.wh.<name>` removes `<name>`. The target is judged like any entry name: a plain name
 * inside the tree (never `.`, `..` or empty, which would reach the staging dir or its parent).
 */
function applyWhiteout(state: ExtractState, cwd: string, parent: string[], base: string): string | "skip" {
  const dir = join(cwd, ...parent);
  if (base === OPAQUE) {
    let children: string[] = [];
    try {
      children = readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") return whiteoutFailed(parent, e);
    }
    const kept = state.layer.namesIn(parent);
    if (!kept) {
      return `opaque whiteout of ${parent.join("/") || "."} comes after too many entries of its layer below it`;
    }
    for (const c of children) {
      if (kept.has(c)) continue;
      const victim = [...parent, c];
      try {
        rmSync(join(cwd, ...victim), { recursive: true, force: true });
      } catch (e) {
        return whiteoutFailed(victim, e);
      }
      state.links.forget(victim.join("/"));
    }
    return "skip";
  }
  const name = base.slice(WHITEOUT.length);
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    return `whiteout of ${JSON.stringify(name)} does not name an entry of the layer`;
  }
  const victim = [...parent, name];
  try {
    rmSync(join(cwd, ...victim), { recursive: true, force: true });
  } catch (e) {
    return whiteoutFailed(victim, e);
  }
  state.links.forget(victim.join("/"));
  return "skip";
}

function whiteoutFailed(victim: string[], e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const cause =
    err.code === "ENOTDIR"
      ? "a path component is not a directory"
      : err.code === "EACCES" || err.code === "EPERM"
        ? "permission denied"
        : (err.code ?? err.message);
  return `whiteout of ${victim.join("/") || "."} failed: ${cause}`;
}

/**
 * Decide on one entry: refuse what could write outside `cwd` or break a cap, apply OCI whiteouts,
 * strip setuid/setgid/sticky bits. Returns an error message, `"skip"`, or null to extract it.
 */
export function judgeEntry(
  state: ExtractState,
  cwd: string,
  raw: string,
  entry: { type: string; size?: number; linkpath?: string; mode?: number },
  whiteouts: boolean,
): string | "skip" | null {
  const p = entryPath(raw);
  if (!p.ok) return p.why;
  if (!ALLOWED.has(entry.type)) return `${TYPE_NAMES[entry.type] ?? entry.type} entries are not allowed`;
  if (++state.entries > state.limits.maxEntries) {
    return `the archive has more than ${state.limits.maxEntries} entries`;
  }
  state.bytes += entry.size ?? 0;
  if (state.bytes > state.limits.maxBytes) {
    return `the archive holds more than ${state.limits.maxBytes} bytes`;
  }
  const path = p.parts.join("/");
  const parent = p.parts.slice(0, -1);
  const base = p.parts.at(-1) ?? "";
  const isLink = (l: string) => state.links.has(l);
  const viaLink = walk([], p.parts, isLink);
  if (!viaLink.ok) return viaLink.why;

  if (whiteouts && base.startsWith(WHITEOUT)) return applyWhiteout(state, cwd, parent, base);

  if (entry.type === "SymbolicLink") {
    const target = entry.linkpath ?? "";
    if (!target) return "symbolic link without a target";
    if (target.startsWith("/")) return `symbolic link to ${target} points outside the backend directory`;
    if (state.traversed.has(path)) {
      return `symbolic link would redirect the target of ${state.traversed.get(path)}`;
    }
    const r = walk(parent, target.split("/"), (l) => l === path || isLink(l));
    if (!r.ok) return `symbolic link to ${target} ${r.why}`;
    state.links.add(path);
    for (const t of intermediates(parent, target.split("/"))) state.traversed.set(t, path);
  } else {
    if (entry.type === "Link") {
      const target = entry.linkpath ?? "";
      const t = entryPath(target);
      if (!t.ok || t.parts.length === 0) return `hard link to ${target} points outside the backend directory`;
      const r = walk([], t.parts, isLink);
      if (!r.ok) return `hard link to ${target} ${r.why}`;
    }
    // A regular entry replaces whatever symlink had this path.
    state.links.forget(path);
  }
  if (typeof entry.mode === "number") entry.mode &= 0o777;
  state.layer.add(p.parts);
  return null;
}

export interface UnpackOptions {
  cwd: string;
  state: ExtractState;
  /** Honour OCI whiteout files (`.wh.<name>`, `.wh..wh..opq`) against earlier layers. */
  whiteouts?: boolean;
}

/**
 * node-tar's Unpack hardened: strict (every warning is an error), owners never taken from the
 * archive, and a filter that aborts the whole archive (never throws: a throw there would crash the
 * process) on the first entry that could escape the staging dir or break a cap.
 */
export function safeUnpack(o: UnpackOptions): Unpack {
  o.state.layer = new LayerWrites();
  const u: Unpack = new Unpack({
    cwd: o.cwd,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    maxDepth: 256,
    filter: (path, entry) => {
      if (!("type" in entry)) return false;
      const verdict = judgeEntry(o.state, o.cwd, path, entry, !!o.whiteouts);
      if (verdict === null) return true;
      if (verdict !== "skip") {
        u.abort(new UnsafeArchiveError(`refusing archive entry ${JSON.stringify(path)}: ${verdict}`));
      }
      return false;
    },
  });
  // node-tar's reservations keep every entry until the archive ends; these forget it once written.
  (u as unknown as { reservations: PathLocks }).reservations = new PathLocks();
  return u;
}

/**
 * Feed `source` into an Unpack, honouring its backpressure, and resolve once every entry is on
 * disk. (stream.pipeline is not used: with node-tar's Unpack it can miss the final 'finish' and
 * hang.) A failing source aborts the archive; a failing archive stops the source.
 */
async function pump(source: AsyncIterable<Uint8Array>, u: Unpack, disk?: DiskGuard): Promise<void> {
  let failure: unknown;
  let wake: (() => void) | undefined;
  let finished = false;
  u.on("drain", () => wake?.());
  u.on("error", (e: unknown) => {
    failure ??= e;
    wake?.();
  });
  const done = new Promise<void>((resolve) => {
    const fin = () => {
      finished = true;
      resolve();
      wake?.();
    };
    u.once("finish", fin);
    u.once("end", fin);
    u.once("error", () => resolve());
  });
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (failure !== undefined) break;
      const next = await iterator.next();
      if (next.done) break;
      if (failure !== undefined) break;
      // Tar bytes overcount file bytes (headers, padding): a safe measure of what is written.
      await disk?.reserve(next.value.byteLength);
      let drained = false;
      wake = () => (drained = true);
      const ok = u.write(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      if (!ok && !drained && failure === undefined) {
        await new Promise<void>((r) => (wake = r));
      }
      wake = undefined;
    }
  } catch (e) {
    u.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  } finally {
    if (failure !== undefined) await iterator.return?.().catch(() => {});
  }
  if (failure !== undefined) throw failure;
  u.end();
  if (!finished) await done;
  if (failure !== undefined) throw failure;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** node-tar's own default: more than this expansion is a bomb. */
const MAX_RATIO = 1000;
const BATCH_BYTES = 1024 * 1024;

const startsWith = (b: Uint8Array, magic: number[]) => magic.every((m, i) => b[i] === m);

/**
 * Gunzip on libuv's thread pool (large output chunks), so decompression runs beside the download,
 * hashing and tar parsing on the main thread instead of in turn with them.
 */
async function* gunzip(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let inBytes = 0;
  // Network reads come in 16-64 KB pieces; each write to zlib is a trip to the thread pool (and
  // each piece of output one file write), so hand it about a megabyte at a time.
  async function* input() {
    let batch: Uint8Array[] = [first];
    let size = first.byteLength;
    for (;;) {
      const r = await rest.next();
      if (!r.done) {
        batch.push(r.value);
        size += r.value.byteLength;
      }
      if (size >= BATCH_BYTES || (r.done && size > 0)) {
        inBytes += size;
        yield batch.length === 1 ? batch[0]! : Buffer.concat(batch, size);
        batch = [];
        size = 0;
      }
      if (r.done) return;
    }
  }
  const gz = createGunzip({ chunkSize: BATCH_BYTES });
  const feeding = pipeline(Readable.from(input(), { highWaterMark: 2 }), gz);
  feeding.catch(() => {});
  let outBytes = 0;
  try {
    for await (const chunk of gz as AsyncIterable<Buffer>) {
      outBytes += chunk.byteLength;
      if (outBytes > 1024 * 1024 && outBytes > MAX_RATIO * inBytes) {
        throw new UnsafeArchiveError(`refusing archive: it expands more than ${MAX_RATIO} times`);
      }
      yield chunk;
    }
    await feeding;
  } finally {
    gz.destroy();
    await rest.return?.().catch(() => {});
  }
}

/** Sniff the compression and hand node-tar plain tar (gzip is undone on the thread pool). */
async function* decompressed(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const head = await it.next();
  if (head.done) return;
  if (startsWith(head.value, GZIP_MAGIC)) {
    yield* gunzip(head.value, it);
    return;
  }
  if (startsWith(head.value, ZSTD_MAGIC) && !("createZstdDecompress" in zlib)) {
    await it.return?.();
    throw new Error("zstd-compressed layers need Node 22.15 or later");
  }
  try {
    yield head.value;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await it.return?.().catch(() => {});
  }
}

/** Extract one archive stream (tar, tar+gzip or tar+zstd, sniffed) into `o.cwd`. */
export async function extractStream(source: AsyncIterable<Uint8Array>, o: UnpackOptions): Promise<void> {
  const u = safeUnpack(o);
  try {
    await pump(decompressed(source), u, o.state.disk);
  } catch (e) {
    const err = e as { code?: string; tarCode?: string; message?: string };
    if (e instanceof UnsafeArchiveError || (e as { name?: string }).name === "UnsafeArchiveError") throw e;
    if (err.tarCode && err.tarCode !== "TAR_ABORT") {
      // strict mode turned a node-tar warning into an error: also an unsafe or broken archive.
      throw new UnsafeArchiveError(`refusing archive: ${err.message ?? err.tarCode}`);
    }
    throw e;
  }
}

/**
 * After extraction, walk the tree once more (defence in depth): every symlink must resolve inside
 * `root` when followed the way the kernel would, and nothing but files, dirs and links may exist.
 * Returns the total size of regular files.
 */
export async function checkTree(root: string): Promise<number> {
  let size = 0;
  const visit = async (rel: string[]): Promise<void> => {
    for (const name of await readdir(join(root, ...rel))) {
      const parts = [...rel, name];
      const st = await lstat(join(root, ...parts));
      if (st.isDirectory()) await visit(parts);
      else if (st.isFile()) size += st.size;
      else if (st.isSymbolicLink()) {
        if (!(await resolvesInside(root, parts))) {
          const target = await readlink(join(root, ...parts));
          throw new UnsafeArchiveError(
            `refusing backend: symbolic link ${parts.join("/")} -> ${target} points outside the backend directory`,
          );
        }
      } else {
        throw new UnsafeArchiveError(`refusing backend: ${parts.join("/")} is not a file, directory or link`);
      }
    }
  };
  await visit([]);
  return size;
}

/** Follow `parts` below `root` component by component (links included); false if it leaves root. */
async function resolvesInside(root: string, parts: string[]): Promise<boolean> {
  const todo = [...parts];
  const cur: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (cur.length === 0) return false;
      cur.pop();
      continue;
    }
    cur.push(c);
    let st;
    try {
      st = lstatSync(join(root, ...cur));
    } catch {
      // Dangling from here on: what is left is resolved lexically.
      const rest = posix.normalize([...cur, ...todo].join("/"));
      return rest !== ".." && !rest.startsWith("../") && !rest.startsWith("/");
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) return false;
      const target = await readlink(join(root, ...cur));
      if (target.startsWith("/")) return false;
      cur.pop();
      todo.unshift(...target.split("/"));
    }
  }
  return true;
}
