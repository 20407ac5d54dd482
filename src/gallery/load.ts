import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorMessage, silentLogger, type Logger } from "../lib/log.js";
import { rerunWhileBusy } from "../lib/rerun.js";
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
  /** Hash of the text `entries` were parsed from: the same text again is not parsed again. */
  textHash?: string;
  /** The source's validators for that text, sent back so an unchanged gallery costs a 304. */
  etag?: string;
  lastModified?: string;
  warnings: GalleryWarning[];
  loadedAt?: number;
  fromCache: boolean;
  error?: string;
  ok: boolean;
  checkedAt: number;
}

type Fetched = { text: string; etag?: string; lastModified?: string } | { unchanged: true };

/**
 * Loads every configured gallery from files or http(s) URLs. A gallery that fails (unreachable,
 * broken YAML, empty) keeps its last good copy, from memory or from the disk cache, and reports why.
 * A gallery whose text has not changed is neither parsed nor cached again, and the catalog in use
 * is kept when no gallery changed.
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

  /**
   * (Re)load every gallery; never throws. Returns the catalog now in use. A call made while a load
   * runs gets one more load after it (shared by every such call): what the running load fetched
   * may predate the change the caller wants to see.
   */
  readonly load: () => Promise<GalleryCatalog> = rerunWhileBusy(() => this.loadAll());

  private async loadAll(): Promise<GalleryCatalog> {
    const changed = await Promise.all(this.slots.map((s) => this.loadSlot(s)));
    if (changed.some(Boolean)) {
      this.current = new GalleryCatalog(
        this.slots.flatMap((s) => s.entries ?? []),
        { devSuffix: this.opts.devSuffix },
      );
    }
    return this.current;
  }

  private cachePath(url: string): string | undefined {
    if (!this.opts.cacheDir) return undefined;
    return join(this.opts.cacheDir, `${sha256(url).slice(0, 32)}.yaml`);
  }

  /** Load one gallery; true when the entries in use changed. */
  private async loadSlot(s: Slot): Promise<boolean> {
    s.checkedAt = this.now();
    const had = s.entries;
    try {
      const fetched = await this.fetchText(s);
      if ("unchanged" in fetched) {
        this.markFresh(s);
        return false;
      }
      const { text } = fetched;
      const hash = sha256(text);
      if (s.entries && hash === s.textHash) {
        this.markFresh(s, fetched);
        return false;
      }
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
      s.textHash = hash;
      this.markFresh(s, fetched);
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
    return s.entries !== had;
  }

  /** The source answered with the entries in use; `validators` name the text they came from. */
  private markFresh(s: Slot, validators?: { etag?: string; lastModified?: string }): void {
    if (validators) {
      s.etag = validators.etag;
      s.lastModified = validators.lastModified;
    }
    s.loadedAt = this.now();
    s.fromCache = false;
    s.ok = true;
    s.error = undefined;
  }

  private async loadFromCache(s: Slot): Promise<void> {
    const path = this.cachePath(s.source.url);
    if (!path) return;
    try {
      const text = await readFile(path, "utf8");
      const parsed = parseGalleryIndex(text, s.source);
      if (parsed.entries.length === 0) return;
      s.entries = parsed.entries;
      s.textHash = sha256(text);
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

  private async fetchText(s: Slot): Promise<Fetched> {
    const url = s.source.url;
    if (/^https?:\/\//i.test(url)) {
      const headers: Record<string, string> = {};
      // Set only with entries fetched from this source (never from the disk cache).
      if (s.etag) headers["if-none-match"] = s.etag;
      if (s.lastModified) headers["if-modified-since"] = s.lastModified;
      const res = await fetch(url, {
        headers,
        signal: AbortSignal.timeout(this.opts.fetchTimeoutMs ?? 30_000),
      });
      if (res.status === 304 && Object.keys(headers).length > 0) return { unchanged: true };
      if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
      return {
        text: await res.text(),
        etag: res.headers.get("etag") ?? undefined,
        lastModified: res.headers.get("last-modified") ?? undefined,
      };
    }
    const path = url.startsWith("file://") ? fileURLToPath(url) : url;
    return { text: await readFile(path, "utf8") };
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
