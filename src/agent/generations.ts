import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { basename, join } from "node:path";
import { silentLogger, type Logger } from "../lib/log.js";
import { BackendName, type BackendMetadata, type InstalledBackend } from "../protocol/index.js";
import { OpRefusedError } from "./errors.js";
import { validateBackendTree } from "./backend-tree.js";
import { checkTree } from "./extract.js";
import {
  fsyncDir,
  METADATA_FILE,
  readMetadata,
  writeFileAtomic,
  writeMetadata,
  renderMetadata,
} from "./metadata.js";

/** Named points of the commit sequence, where tests inject crashes (Mender style). */
export type Step =
  | "validated"
  | "metadata-written"
  | "synced"
  | "adopted-moved"
  | "committed"
  | "activated"
  | "collected"
  | "rollback-activated"
  | "delete-marked"
  | "delete-unlinked"
  | "delete-moved"
  | "layout-built"
  | "layout-moved"
  | "migrate-marked"
  | "migrate-unlinked"
  | "migrated"
  | "adopted";

/** Called at each step; a test throws from it to stop the sequence exactly as a kill would. */
export type StepHook = (step: Step, name: string) => void | Promise<void>;

export interface StoreOptions {
  root: string;
  /** Previous generations kept for rollback (besides the live one). */
  keep?: number;
  /** Flush the staged tree to disk before it goes live (survives power loss). */
  fsync?: boolean;
  log?: Logger;
  onStep?: StepHook;
}

export interface LiveBackend {
  name: string;
  generation: string;
  dir: string;
  metadata: BackendMetadata;
  /** Older generations on disk, newest first. */
  previous: string[];
}

/**
 * What `<root>/<name>` holds: `concrete` (our directory with a `current` link), `linked` (the
 * old layout, a symlink to a generation, migrated on start), `legacy` (a LocalAI-written
 * directory with run.sh, adopted as a generation), `meta` (a LocalAI meta pointer).
 */
export type EntryKind = "concrete" | "linked" | "meta" | "legacy" | "missing" | "other";

const GEN_ID = /^(\d{8}T\d{9})Z-[0-9a-f]{4}$/;
const DELETING = ".deleting";
/** In `.generations/<name>`: `<root>/<name>` is being (re)built, so its absence is expected. */
const RELAYOUT = ".relayout";
/** The link inside `<root>/<name>` that every entry goes through; activation renames it. */
export const CURRENT = "current";
const TMP_LINK = ".current.tmp-link-";

function formatStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(".", "").replace("Z", "");
}

function stampMs(id: string): number {
  const m = GEN_ID.exec(id);
  if (!m) return 0;
  const s = m[1]!;
  return Date.UTC(
    +s.slice(0, 4),
    +s.slice(4, 6) - 1,
    +s.slice(6, 8),
    +s.slice(9, 11),
    +s.slice(11, 13),
    +s.slice(13, 15),
    +s.slice(15, 18),
  );
}

/** A generation id that sorts after `after` (ids sort by time, so the newest is the largest). */
export function newGenerationId(now = Date.now(), after?: string): string {
  const ms = after ? Math.max(now, stampMs(after) + 1) : now;
  return `${formatStamp(ms)}Z-${randomBytes(2).toString("hex")}`;
}

const isGenId = (s: string) => GEN_ID.test(s);

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch {
    return null;
  }
}

/**
 * The backends directory, read by LocalAI as its own (`os.ReadDir` + `IsDir()`, then
 * `<root>/<name>/run.sh` and `<root>/<name>/metadata.json`) and generation-based inside:
 *
 *   <root>/<name>/                    a real directory
 *   <root>/<name>/current             -> ../.generations/<name>/<id>  (swapped with one rename)
 *   <root>/<name>/<entry>             -> current/<entry>, one per top-level entry of a generation
 *   <root>/.generations/<name>/<id>/  immutable once committed; the live one is always the newest
 *   <root>/.staging/<op>-<rand>/      extraction target, same filesystem
 *   <root>/.trash/                    renamed here first, then removed, so nothing is half-deleted
 *   <root>/<meta>/metadata.json       meta pointer (a real directory), as LocalAI writes it
 *
 * The private directories hold neither run.sh nor metadata.json at their top, so LocalAI lists
 * none of them as a backend.
 */
export class BackendStore {
  readonly root: string;
  readonly gensRoot: string;
  readonly stagingRoot: string;
  readonly trashRoot: string;
  private readonly keep: number;
  private readonly fsync: boolean;
  private readonly log: Logger;
  private readonly onStep?: StepHook;
  private readonly sizes = new Map<string, number>();

  constructor(o: StoreOptions) {
    this.root = o.root;
    this.gensRoot = join(o.root, ".generations");
    this.stagingRoot = join(o.root, ".staging");
    this.trashRoot = join(o.root, ".trash");
    this.keep = o.keep ?? 2;
    this.fsync = o.fsync ?? true;
    this.log = o.log ?? silentLogger;
    this.onStep = o.onStep;
  }

  private async step(s: Step, name: string): Promise<void> {
    await this.onStep?.(s, name);
  }

  /** Create the layout and undo whatever a crash left half done. */
  async init(): Promise<void> {
    for (const d of [this.root, this.gensRoot, this.stagingRoot, this.trashRoot]) {
      await mkdir(d, { recursive: true });
    }
    await this.recover();
  }

  /**
   * Crash recovery, restartable at any point: staging and trash are emptied, temp links removed,
   * half-done deletes finished, generations newer than the live one (committed but never
   * activated) dropped, a first install that never got its directory dropped, an interrupted
   * migration or adoption finished; then the old layout (`<root>/<name>` a symlink) is migrated
   * and directories LocalAI wrote are adopted as generations.
   */
  async recover(): Promise<void> {
    for (const dir of [this.stagingRoot, this.trashRoot]) {
      for (const e of await readdir(dir).catch(() => [] as string[])) {
        this.log.info("removing leftover of an interrupted operation", { path: join(dir, e) });
        await rm(join(dir, e), { recursive: true, force: true, maxRetries: 3 });
      }
    }
    for (const e of await readdir(this.root)) {
      if (e.startsWith(".") && e.includes(".tmp-link")) await rm(join(this.root, e), { force: true });
    }
    for (const name of await readdir(this.gensRoot).catch(() => [] as string[])) {
      const gdir = join(this.gensRoot, name);
      if (await lstatOrNull(join(gdir, DELETING))) {
        this.log.info("finishing an interrupted delete", { backend: name });
        await this.finishDelete(name);
        continue;
      }
      const kind = await this.kind(name);
      if (kind === "concrete" || kind === "linked") {
        const linkPath = kind === "linked" ? join(this.root, name) : join(this.root, name, CURRENT);
        const live = basename(await readlink(linkPath));
        const gens = await this.generationIds(name);
        for (const g of gens.filter((g) => g > live)) {
          this.log.info("dropping a generation that never went live", { backend: name, generation: g });
          await this.trash(join(gdir, g));
        }
        if (!gens.includes(live)) {
          const older = gens.filter((g) => g < live);
          if (older[0]) {
            await this.activate(name, older[0]);
          } else {
            await this.trash(join(this.root, name));
            await this.trash(gdir);
            continue;
          }
        }
        if (kind === "concrete") await this.tidyLinks(name);
        else await this.migrate(name);
      } else if (kind === "missing") {
        const gens = await this.generationIds(name);
        if (gens[0] && (await lstatOrNull(join(gdir, RELAYOUT)))) {
          // Killed while <root>/<name> was being moved aside and rebuilt.
          this.log.info("finishing the layout of a backend", { backend: name });
          await this.activate(name, gens[0]);
        } else {
          // Never got its directory: a first install that did not get to its swap.
          this.log.info("dropping a backend that never went live", { backend: name });
          await this.trash(gdir);
          continue;
        }
      }
      await rm(join(gdir, RELAYOUT), { force: true });
    }
    for (const name of await readdir(this.root)) {
      if (name.startsWith(".") || !BackendName.safeParse(name).success) continue;
      // LocalAI's own install in progress (`<name>.install-tmp`, `<name>.install-backup`).
      if (/\.install-(tmp|backup)$/.test(name)) continue;
      // Only what LocalAI would run: a run.sh that resolves.
      if ((await this.kind(name)) !== "legacy") continue;
      if (await stat(join(this.root, name, "run.sh")).catch(() => null)) await this.adoptLegacy(name);
    }
  }

  /** Old layout to new: `<root>/<name>` becomes a real directory linking to the same generation. */
  private async migrate(name: string): Promise<void> {
    const link = join(this.root, name);
    const generation = basename(await readlink(link));
    const gdir = join(this.gensRoot, name);
    await writeFile(join(gdir, RELAYOUT), "");
    await this.step("migrate-marked", name);
    // No rename replaces a symlink with a directory, so the name is absent for two syscalls (as
    // in LocalAI's own install swap); the marker makes recovery finish the job after a kill.
    await unlink(link);
    await this.step("migrate-unlinked", name);
    await this.activate(name, generation);
    await rm(join(gdir, RELAYOUT), { force: true });
    await this.step("migrated", name);
    this.log.info("moved a backend to the LocalAI-readable layout", { backend: name, generation });
  }

  /** Generation ids of `name`, newest first. */
  async generationIds(name: string): Promise<string[]> {
    const ids = (await readdir(join(this.gensRoot, name)).catch(() => [] as string[])).filter(isGenId);
    return ids.sort().reverse();
  }

  async kind(name: string): Promise<EntryKind> {
    const p = join(this.root, name);
    const st = await lstatOrNull(p);
    if (!st) return "missing";
    if (st.isSymbolicLink()) return "linked";
    if (!st.isDirectory()) return "other";
    if ((await lstatOrNull(join(p, CURRENT)))?.isSymbolicLink()) return "concrete";
    if (await lstatOrNull(join(p, "run.sh"))) return "legacy";
    if (await lstatOrNull(join(p, METADATA_FILE))) return "meta";
    return "other";
  }

  /** The generation `<root>/<name>` currently goes through, or null. */
  private async currentGeneration(name: string): Promise<string | null> {
    const p = join(this.root, name);
    const st = await lstatOrNull(p);
    if (!st) return null;
    const link = st.isSymbolicLink() ? p : join(p, CURRENT);
    try {
      return basename(await readlink(link));
    } catch {
      return null;
    }
  }

  async live(name: string): Promise<LiveBackend | null> {
    const generation = await this.currentGeneration(name);
    if (!generation || !isGenId(generation)) return null;
    const dir = join(this.gensRoot, name, generation);
    if (!(await lstatOrNull(dir))) return null;
    const previous = (await this.generationIds(name)).filter((g) => g < generation);
    return { name, generation, dir, metadata: await readMetadata(dir, name), previous };
  }

  /** A fresh private staging directory on the same filesystem as the backends. */
  async createStaging(label: string): Promise<string> {
    const dir = join(this.stagingRoot, `${label}-${randomBytes(3).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Remove a directory so that a crash midway never leaves it half-deleted under its name. */
  async trash(path: string): Promise<void> {
    const to = join(this.trashRoot, `${basename(path)}-${randomBytes(3).toString("hex")}`);
    try {
      await rename(path, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    await rm(to, { recursive: true, force: true, maxRetries: 3 });
  }

  /**
   * Check a staged tree can go live: run.sh present, a regular file, executable; every symlink
   * resolving inside. Returns the tree's size.
   */
  async validate(staging: string): Promise<number> {
    const size = await validateBackendTree(staging);
    if (await lstatOrNull(join(staging, CURRENT))) {
      throw new OpRefusedError(
        `the backend has a top-level entry named "${CURRENT}", which the backends layout reserves`,
      );
    }
    return size;
  }

  private readonly flushing = new Map<string, Promise<boolean>>();

  private syncfs(dir: string): Promise<boolean> {
    // syncfs(2) through coreutils: one call flushes the whole staged tree, as RAUC does.
    return new Promise<boolean>((resolve) =>
      execFile("sync", ["-f", dir], { timeout: 600_000 }, (err) => resolve(!err)),
    );
  }

  /**
   * Start flushing what is staged so far (after each layer) while the next layer downloads, so the
   * final flush before activation has little left to write.
   */
  flushEarly(staging: string): void {
    if (!this.fsync || this.flushing.has(staging)) return;
    const p = this.syncfs(staging).finally(() => this.flushing.delete(staging));
    this.flushing.set(staging, p);
  }

  private async syncTree(dir: string): Promise<void> {
    if (!this.fsync) return;
    await this.flushing.get(dir);
    if (await this.syncfs(dir)) return;
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          const fh = await open(p, "r");
          await fh.sync().finally(() => fh.close());
        }
      }
      await fsyncDir(d);
    };
    await walk(dir);
  }

  /** Top-level entry names of a generation that get a link in `<root>/<name>`. */
  private async entriesOf(name: string, generation: string): Promise<string[]> {
    const all = await readdir(join(this.gensRoot, name, generation)).catch(() => [] as string[]);
    return all.filter((e) => e !== CURRENT && !e.startsWith(TMP_LINK));
  }

  /** Is `path` one of our entry links (`-> current/<entry>`)? Anything else there is left alone. */
  private async isEntryLink(dir: string, e: string): Promise<boolean> {
    if (!(await lstatOrNull(join(dir, e)))?.isSymbolicLink()) return false;
    return (await readlink(join(dir, e)).catch(() => "")) === `${CURRENT}/${e}`;
  }

  /** Add the entry links `generation` needs (dangling until `current` points at it). */
  private async addEntryLinks(dir: string, name: string, generation: string): Promise<void> {
    for (const e of await this.entriesOf(name, generation)) {
      if (await lstatOrNull(join(dir, e))) continue;
      await symlink(`${CURRENT}/${e}`, join(dir, e));
    }
  }

  /** Remove entry links the live generation has no entry for, and leftover temp links. */
  private async tidyLinks(name: string): Promise<void> {
    const dir = join(this.root, name);
    const generation = await this.currentGeneration(name);
    if (!generation) return;
    await this.addEntryLinks(dir, name, generation);
    const wanted = new Set(await this.entriesOf(name, generation));
    for (const e of await readdir(dir)) {
      if (e.startsWith(TMP_LINK)) await rm(join(dir, e), { force: true });
      else if (e !== CURRENT && !wanted.has(e) && (await this.isEntryLink(dir, e))) {
        await unlink(join(dir, e));
      }
    }
  }

  /**
   * Make a generation live. With `<root>/<name>` in place: add the new entry links, then one
   * rename of a new `current` link over the old one, then drop the links the new generation has
   * no entry for. Without it: build the directory in staging and rename it into place.
   */
  private async activate(name: string, generation: string): Promise<void> {
    const dir = join(this.root, name);
    const target = join("..", ".generations", name, generation);
    if ((await this.kind(name)) === "concrete") {
      await this.addEntryLinks(dir, name, generation);
      const tmp = join(dir, `${TMP_LINK}${randomBytes(3).toString("hex")}`);
      await symlink(target, tmp);
      try {
        await rename(tmp, join(dir, CURRENT));
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
      if (this.fsync) await fsyncDir(dir);
      await this.tidyLinks(name);
      return;
    }
    const built = await this.createStaging(`layout-${name}`);
    await chmod(built, 0o755);
    await symlink(target, join(built, CURRENT));
    await this.addEntryLinks(built, name, generation);
    if (this.fsync) await fsyncDir(built);
    await this.step("layout-built", name);
    await rename(built, dir);
    if (this.fsync) await fsyncDir(this.root);
    await this.step("layout-moved", name);
  }

  /** Move a LocalAI-written directory into the generation layout as its newest generation. */
  private async adoptLegacy(name: string): Promise<void> {
    const gdir = join(this.gensRoot, name);
    const id = newGenerationId(Date.now(), (await this.generationIds(name))[0]);
    await mkdir(gdir, { recursive: true });
    await writeFile(join(gdir, RELAYOUT), "");
    await rename(join(this.root, name), join(gdir, id));
    await this.step("adopted-moved", name);
    await this.activate(name, id);
    await rm(join(gdir, RELAYOUT), { force: true });
    await this.step("adopted", name);
    this.log.info("adopted a pre-existing backend directory as a generation", {
      backend: name,
      generation: id,
    });
  }

  /**
   * Validate a staged tree, write its metadata.json, move it into place as a new generation and
   * make it live. A failure before the final rename leaves the previous generation live.
   */
  async commit(
    name: string,
    staging: string,
    metadata: BackendMetadata,
    hooks: {
      phase?(p: "extracting" | "probing" | "activating"): Promise<void>;
      /** Health probe of the staged tree before it goes live; throws to refuse it. */
      probe?(dir: string): Promise<void>;
    } = {},
  ): Promise<{ generation: string; sizeBytes: number }> {
    const kind = await this.kind(name);
    if (kind === "meta") throw new OpRefusedError(`${name} is installed as a meta backend; delete it first`);
    if (kind === "other") throw new OpRefusedError(`${join(this.root, name)} exists and is not a backend`);
    const sizeBytes = await this.validate(staging);
    await this.step("validated", name);
    await hooks.phase?.("extracting");
    await writeMetadata(staging, metadata);
    await this.step("metadata-written", name);
    if (hooks.probe) {
      await hooks.phase?.("probing");
      await hooks.probe(staging);
    }
    await this.syncTree(staging);
    await this.step("synced", name);
    // The last point where the op may still stop: from here on it completes.
    await hooks.phase?.("activating");
    if (kind === "legacy") await this.adoptLegacy(name);
    if (kind === "linked") await this.migrate(name);
    const existing = await this.generationIds(name);
    const generation = newGenerationId(Date.now(), existing[0]);
    await mkdir(join(this.gensRoot, name), { recursive: true });
    await rename(staging, join(this.gensRoot, name, generation));
    if (this.fsync) await fsyncDir(join(this.gensRoot, name));
    await this.step("committed", name);
    await this.activate(name, generation);
    await this.step("activated", name);
    this.sizes.set(`${name}/${generation}`, sizeBytes);
    await this.collect(name);
    await this.step("collected", name);
    return { generation, sizeBytes };
  }

  /** Keep the live generation and the `keep` newest older ones; drop the rest. */
  async collect(name: string): Promise<void> {
    const live = await this.live(name);
    if (!live) return;
    for (const g of live.previous.slice(this.keep)) {
      await this.trash(join(this.gensRoot, name, g));
      this.sizes.delete(`${name}/${g}`);
    }
  }

  /**
   * Make an older generation live again: `generation` when given (it must be kept), else the
   * newest kept one. The one rolled back from is removed, and so is every kept generation newer
   * than the target (else it would linger unlisted: only older generations count as kept).
   */
  async rollback(name: string, generation?: string): Promise<LiveBackend> {
    const live = await this.live(name);
    if (!live) throw new OpRefusedError(`${name} is not installed here`);
    if (generation === live.generation) {
      throw new OpRefusedError(`${name}: generation ${generation} is already live`);
    }
    if (generation !== undefined && !live.previous.includes(generation)) {
      const kept = live.previous.length > 0 ? live.previous.join(", ") : "none";
      throw new OpRefusedError(`${name}: generation ${generation} is not kept here (kept: ${kept})`);
    }
    const target = generation ?? live.previous[0];
    if (!target) throw new OpRefusedError(`${name} has no previous generation to roll back to`);
    await this.activate(name, target);
    await this.step("rollback-activated", name);
    for (const g of [live.generation, ...live.previous.filter((p) => p > target)]) {
      await this.trash(join(this.gensRoot, name, g));
      this.sizes.delete(`${name}/${g}`);
    }
    const now = await this.live(name);
    if (!now) throw new Error(`${name}: rollback left no live generation`);
    return now;
  }

  /** Delete a concrete backend (all generations) or a legacy directory. Idempotent. */
  async removeConcrete(name: string): Promise<boolean> {
    const kind = await this.kind(name);
    if (kind === "legacy") {
      await this.trash(join(this.root, name));
      return true;
    }
    const gdir = join(this.gensRoot, name);
    const hasGens = !!(await lstatOrNull(gdir));
    const ours = kind === "concrete" || kind === "linked";
    if (!ours && !hasGens) return false;
    if (hasGens) await writeFile(join(gdir, DELETING), "");
    await this.step("delete-marked", name);
    if (ours) {
      await this.trash(join(this.root, name));
      if (this.fsync) await fsyncDir(this.root);
    }
    await this.step("delete-unlinked", name);
    await this.finishDelete(name);
    return true;
  }

  private async finishDelete(name: string): Promise<void> {
    const kind = await this.kind(name);
    if (kind === "concrete" || kind === "linked") await this.trash(join(this.root, name));
    const to = join(this.trashRoot, `${name}-${randomBytes(3).toString("hex")}`);
    try {
      await rename(join(this.gensRoot, name), to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      return;
    }
    await this.step("delete-moved", name);
    await rm(to, { recursive: true, force: true, maxRetries: 3 });
    for (const k of [...this.sizes.keys()]) if (k.startsWith(`${name}/`)) this.sizes.delete(k);
  }

  // ------------------------------------------------------------------ meta pointers

  async readMeta(meta: string): Promise<BackendMetadata | null> {
    return (await this.kind(meta)) === "meta" ? this.metaAt(meta) : null;
  }

  /** The pointer in `<root>/<meta>/metadata.json`, whose kind the caller has checked. */
  private async metaAt(meta: string): Promise<BackendMetadata | null> {
    const md = await readMetadata(join(this.root, meta), meta);
    return md.meta_backend_for ? md : null;
  }

  /** Refuse, before any work, a meta name that something other than a meta pointer holds. */
  async assertMetaWritable(name: string): Promise<void> {
    const kind = await this.kind(name);
    if (kind === "concrete" || kind === "linked" || kind === "legacy") {
      throw new OpRefusedError(`${name} is installed as a concrete backend, not a meta`);
    }
    if (kind === "other")
      throw new OpRefusedError(`${name} exists in the backends directory and is not a backend`);
  }

  /** Write `<root>/<meta>/metadata.json` (a real directory holding only that file). */
  async writeMeta(md: BackendMetadata & { meta_backend_for: string }): Promise<void> {
    const dir = join(this.root, md.name);
    await this.assertMetaWritable(md.name);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, METADATA_FILE), renderMetadata(md));
  }

  async removeMeta(meta: string): Promise<void> {
    if ((await this.kind(meta)) === "meta") await this.trash(join(this.root, meta));
  }

  /** Meta pointers that name `concrete`. */
  async metasPointingAt(concrete: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(this.root)) {
      if (e.startsWith(".")) continue;
      const md = await this.readMeta(e);
      if (md?.meta_backend_for === concrete) out.push(e);
    }
    return out;
  }

  // ------------------------------------------------------------------ inventory

  private async sizeOf(name: string, generation: string, dir: string): Promise<number | undefined> {
    const key = `${name}/${generation}`;
    let size = this.sizes.get(key);
    if (size === undefined) {
      size = await checkTree(dir).catch(() => undefined);
      if (size !== undefined) this.sizes.set(key, size);
    }
    return size;
  }

  /** One row per installed backend: concretes (with generations), metas and legacy directories. */
  async list(): Promise<InstalledBackend[]> {
    const names = (await readdir(this.root))
      .filter((name) => !name.startsWith(".") && BackendName.safeParse(name).success)
      .sort();
    // Independent reads: let the thread pool overlap them instead of one entry after another.
    const rows = await Promise.all(names.map((name) => this.row(name)));
    return rows.filter((r): r is InstalledBackend => r !== null);
  }

  private async row(name: string): Promise<InstalledBackend | null> {
    const kind = await this.kind(name);
    if (kind === "concrete" || kind === "linked") {
      const live = await this.live(name);
      if (!live) return null;
      return {
        name,
        metadata: live.metadata,
        isMeta: false,
        generation: live.generation,
        previousGenerations: live.previous.slice(0, 32),
        previous: await Promise.all(
          live.previous.slice(0, 32).map(async (generation) => {
            const md = await readMetadata(join(this.gensRoot, name, generation), name);
            return { generation, version: md.version, digest: md.digest, installedAt: md.installed_at };
          }),
        ),
        sizeBytes: await this.sizeOf(name, live.generation, live.dir),
      };
    }
    if (kind === "meta") {
      const md = await this.metaAt(name);
      return md && { name, metadata: md, isMeta: true, generation: null, previousGenerations: [] };
    }
    // A legacy dir counts only with a run.sh that resolves (a dangling symlink is not a backend).
    if (kind === "legacy" && (await stat(join(this.root, name, "run.sh")).catch(() => null))) {
      return {
        name,
        metadata: await readMetadata(join(this.root, name), name),
        isMeta: false,
        generation: null,
        previousGenerations: [],
      };
    }
    return null;
  }
}
