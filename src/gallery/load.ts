import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorMessage, silentLogger, type Logger } from "../client/log.js";
import { parseGalleryIndex } from "./parse.js";
import { GalleryCatalog } from "./resolve.js";
import type { GalleryEntry, GallerySource, GalleryWarning } from "./types.js";

export interface GalleryStatus {
  name: string;
  url: string;
  /** The last load attempt succeeded. */
  ok: boolean;
  /** Entries in use (from the last good copy when the last attempt failed). */
  entries: number;
  warnings: GalleryWarning[];
  /** Why the last attempt failed; the last good copy stays in use. */
  error?: string;
  /** When the copy in use was fetched; undefined when there is none. */
  loadedAt?: number;
  /** The copy in use came from the on-disk cache, not from the source. */
  fromCache: boolean;
  checkedAt: number;
}

export interface GalleryLoaderOptions {
  sources: GallerySource[];
  /** Where the last good copy of each gallery is kept; no disk cache when undefined. */
  cacheDir?: string;
  devSuffix?: string;
  fetchTimeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** `name=url` or a bare path/URL (named after its file or host). */
export function parseGallerySources(specs: string[]): GallerySource[] {
  const out: GallerySource[] = [];
  const seen = new Set<string>();
  for (const spec of specs) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$/.exec(spec);
    let name: string;
    let url: string;
    if (m && !/^[a-z]+:\/\//i.test(spec)) {
      name = m[1]!;
      url = m[2]!;
    } else {
      url = spec;
      name = defaultName(spec);
    }
    let unique = name;
    for (let i = 2; seen.has(unique); i++) unique = `${name}-${i}`;
    seen.add(unique);
    out.push({ name: unique, url });
  }
  return out;
}

function defaultName(url: string): string {
  if (/^https?:\/\//i.test(url)) {
    try {
      return new URL(url).hostname;
    } catch {
      return "gallery";
    }
  }
  const file = basename(url.replace(/^file:\/\//, ""));
  return file.slice(0, file.length - extname(file).length) || "gallery";
}

interface Slot {
  source: GallerySource;
  entries?: GalleryEntry[];
  warnings: GalleryWarning[];
  loadedAt?: number;
  fromCache: boolean;
  error?: string;
  ok: boolean;
  checkedAt: number;
}

/**
 * Loads every configured gallery from files or http(s) URLs. A gallery that fails (unreachable,
 * broken YAML, empty) keeps its last good copy, from memory or from the disk cache, and reports why.
 */
export class GalleryLoader {
  private readonly slots: Slot[];
  private current: GalleryCatalog;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: GalleryLoaderOptions) {
    this.slots = opts.sources.map((source) => ({
      source,
      warnings: [],
      fromCache: false,
      ok: false,
      checkedAt: 0,
    }));
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.current = new GalleryCatalog([], { devSuffix: opts.devSuffix });
  }

  get catalog(): GalleryCatalog {
    return this.current;
  }

  get status(): GalleryStatus[] {
    return this.slots.map((s) => ({
      name: s.source.name,
      url: s.source.url,
      ok: s.ok,
      entries: s.entries?.length ?? 0,
      warnings: s.warnings,
      error: s.error,
      loadedAt: s.loadedAt,
      fromCache: s.fromCache,
      checkedAt: s.checkedAt,
    }));
  }

  /** (Re)load every gallery; never throws. Returns the catalog now in use. */
  async load(): Promise<GalleryCatalog> {
    await Promise.all(this.slots.map((s) => this.loadSlot(s)));
    this.current = new GalleryCatalog(
      this.slots.flatMap((s) => s.entries ?? []),
      { devSuffix: this.opts.devSuffix },
    );
    return this.current;
  }

  private cachePath(url: string): string | undefined {
    if (!this.opts.cacheDir) return undefined;
    return join(this.opts.cacheDir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.yaml`);
  }

  private async loadSlot(s: Slot): Promise<void> {
    s.checkedAt = this.now();
    try {
      const text = await this.fetchText(s.source.url);
      const parsed = parseGalleryIndex(text, s.source);
      if (parsed.entries.length === 0) {
        throw new Error(
          parsed.warnings.length > 0
            ? `no usable entries (${parsed.warnings.length} rejected, first: ${parsed.warnings[0]!.message})`
            : "the gallery is empty",
        );
      }
      s.entries = parsed.entries;
      s.warnings = parsed.warnings;
      s.loadedAt = this.now();
      s.fromCache = false;
      s.ok = true;
      s.error = undefined;
      for (const w of parsed.warnings)
        this.log.warn("gallery entry skipped", { gallery: s.source.name, ...w });
      await this.saveCache(s.source.url, text);
    } catch (e) {
      s.ok = false;
      s.error = errorMessage(e);
      if (!s.entries) await this.loadFromCache(s);
      this.log.warn("gallery not loaded; keeping the last good copy", {
        gallery: s.source.name,
        url: s.source.url,
        error: s.error,
        entriesInUse: s.entries?.length ?? 0,
        fromCache: s.fromCache,
      });
    }
  }

  private async loadFromCache(s: Slot): Promise<void> {
    const path = this.cachePath(s.source.url);
    if (!path) return;
    try {
      const parsed = parseGalleryIndex(await readFile(path, "utf8"), s.source);
      if (parsed.entries.length === 0) return;
      s.entries = parsed.entries;
      s.warnings = parsed.warnings;
      s.fromCache = true;
      s.loadedAt = undefined;
    } catch {
      // No cached copy (or an unreadable one): the gallery stays empty and the error says why.
    }
  }

  private async saveCache(url: string, text: string): Promise<void> {
    const path = this.cachePath(url);
    if (!path) return;
    try {
      await mkdir(this.opts.cacheDir!, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, path);
    } catch (e) {
      this.log.warn("cannot write the gallery cache", { path, error: errorMessage(e) });
    }
  }

  private async fetchText(url: string): Promise<string> {
    if (/^https?:\/\//i.test(url)) {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.fetchTimeoutMs ?? 30_000) });
      if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
      return res.text();
    }
    const path = url.startsWith("file://") ? fileURLToPath(url) : url;
    return readFile(path, "utf8");
  }
}
