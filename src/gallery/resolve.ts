import { DEV_SUFFIX } from "../protocol/index.js";
import { concreteCompatibility, pickCapabilityKey, preferredBuildTokens } from "./compat.js";
import type { GalleryEntry } from "./types.js";

export interface CatalogOptions {
  /** Suffix of development builds, without the dash (LocalAI: `development`). */
  devSuffix?: string;
}

export type Resolution =
  | {
      ok: true;
      /** The concrete build that lands on disk. */
      concrete: GalleryEntry;
      /** Set when the name asked for was a meta. */
      meta?: GalleryEntry;
      /** Set when the name asked for was only an alias. */
      alias?: string;
      /** The capability key of the meta's map that was used. */
      capabilityKey?: string;
    }
  | { ok: false; code: "unknown" | "unresolvable"; error: string };

export interface EntryClass {
  kind: "meta" | "concrete";
  development: boolean;
  /** For a development entry: its stable twin, when the gallery has one. */
  stableTwin?: string;
  /** For a stable entry: its development twin, when the gallery has one. */
  devTwin?: string;
  /** True when the alias is a name no entry carries, so it only resolves through aliasing. */
  aliasOnly: boolean;
}

export function isMeta(e: GalleryEntry): boolean {
  return !e.uri && !!e.capabilities && Object.keys(e.capabilities).length > 0;
}

/**
 * Every entry of one or more galleries, in configuration order (the first gallery that has a
 * name wins, as in LocalAI), with LocalAI's meta, alias and development-variant rules.
 */
/** One resolution as `backplane gallery resolve` and `gallery.resolve` show it. */
export interface ResolutionSummary {
  capability: string;
  concrete?: string;
  uri?: string;
  meta?: string;
  capabilityKey?: string;
  alias?: string;
  error?: string;
}

export class GalleryCatalog {
  readonly devSuffix: string;
  private readonly byName = new Map<string, GalleryEntry>();
  private readonly byQualified = new Map<string, GalleryEntry>();
  private readonly byAlias = new Map<string, GalleryEntry[]>();
  readonly duplicates: string[] = [];

  constructor(
    readonly entries: readonly GalleryEntry[],
    opts: CatalogOptions = {},
  ) {
    this.devSuffix = opts.devSuffix ?? DEV_SUFFIX;
    for (const e of entries) {
      const k = e.name.toLowerCase();
      if (this.byName.has(k)) this.duplicates.push(e.name);
      else this.byName.set(k, e);
      const q = `${e.gallery}@${e.name}`.toLowerCase();
      if (!this.byQualified.has(q)) this.byQualified.set(q, e);
      if (e.alias) {
        const a = e.alias.toLowerCase();
        const list = this.byAlias.get(a) ?? [];
        list.push(e);
        this.byAlias.set(a, list);
      }
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** Look an entry up by name (case-insensitive) or as `gallery@name`. */
  find(name: string): GalleryEntry | undefined {
    const k = name.toLowerCase();
    return k.includes("@") ? this.byQualified.get(k) : this.byName.get(k);
  }

  isDevelopment(name: string): boolean {
    return name.toLowerCase().endsWith(`-${this.devSuffix}`);
  }

  /** `x-development` -> `x`; undefined for a stable name. */
  stableNameOf(name: string): string | undefined {
    const suffix = `-${this.devSuffix}`;
    return this.isDevelopment(name) ? name.slice(0, -suffix.length) : undefined;
  }

  devNameOf(name: string): string {
    return `${name}-${this.devSuffix}`;
  }

  classify(e: GalleryEntry): EntryClass {
    const development = this.isDevelopment(e.name);
    const stable = this.stableNameOf(e.name);
    return {
      kind: isMeta(e) ? "meta" : "concrete",
      development,
      stableTwin: stable && this.find(stable) ? this.find(stable)!.name : undefined,
      devTwin: !development && this.find(this.devNameOf(e.name)) ? this.devNameOf(e.name) : undefined,
      aliasOnly: !!e.alias && !this.find(e.alias),
    };
  }

  /** Entries whose alias is `name`. */
  withAlias(name: string): GalleryEntry[] {
    return this.byAlias.get(name.toLowerCase()) ?? [];
  }

  /** Meta capability targets that name no entry, for a gallery health report. */
  missingTargets(): Array<{ meta: string; capability: string; target: string }> {
    const out: Array<{ meta: string; capability: string; target: string }> = [];
    for (const e of this.byName.values()) {
      if (!isMeta(e)) continue;
      for (const [capability, target] of Object.entries(e.capabilities ?? {})) {
        if (!this.find(target)) out.push({ meta: e.name, capability, target });
      }
    }
    return out;
  }

  /** What a node of `capability` gets for `name`, flattened for display and the API. */
  describe(name: string, capability: string): ResolutionSummary {
    const r = this.resolve(name, capability);
    return r.ok
      ? {
          capability,
          concrete: r.concrete.name,
          uri: r.concrete.uri,
          meta: r.meta?.name,
          capabilityKey: r.capabilityKey,
          alias: r.alias,
        }
      : { capability, error: r.error };
  }

  /**
   * What a node of `capability` gets when it asks for `name`: a meta resolves through its
   * capability map (exact key, else `default`, else `cpu`); a concrete must be compatible with
   * the node; a name that is only an alias picks the best matching entry carrying it.
   */
  resolve(name: string, capability: string): Resolution {
    const e = this.find(name);
    if (e) return this.resolveEntry(e, capability);
    const candidates = this.withAlias(name);
    if (candidates.length === 0) {
      return {
        ok: false,
        code: "unknown",
        error: `unknown backend ${JSON.stringify(name)}: not in any gallery`,
      };
    }
    const pick = this.pickAliasCandidate(candidates, capability);
    if (!pick) {
      return {
        ok: false,
        code: "unresolvable",
        error: `no build of ${name} runs on capability ${capability} (candidates: ${candidates
          .map((c) => c.name)
          .join(", ")})`,
      };
    }
    const r = this.resolveEntry(pick, capability);
    return r.ok ? { ...r, alias: name } : r;
  }

  private resolveEntry(e: GalleryEntry, capability: string): Resolution {
    if (!isMeta(e)) {
      const c = concreteCompatibility(e.name, e.uri, capability);
      if (!c.ok) {
        return {
          ok: false,
          code: "unresolvable",
          error: `${e.name} needs ${c.needs}; this node's capability is ${capability}`,
        };
      }
      return { ok: true, concrete: e };
    }
    const pick = pickCapabilityKey(e.capabilities ?? {}, capability);
    if (!pick.ok) return { ok: false, code: "unresolvable", error: `${e.name}: ${pick.error}` };
    const targetName = e.capabilities![pick.key]!;
    const target = this.find(targetName);
    if (!target) {
      return {
        ok: false,
        code: "unresolvable",
        error: `${e.name} maps capability ${pick.key} to ${targetName}, which is not in any gallery`,
      };
    }
    if (isMeta(target)) {
      return {
        ok: false,
        code: "unresolvable",
        error: `${e.name} maps capability ${pick.key} to ${targetName}, which is itself a meta backend`,
      };
    }
    const c = concreteCompatibility(target.name, target.uri, capability);
    if (!c.ok) {
      return {
        ok: false,
        code: "unresolvable",
        error: `${e.name} maps capability ${pick.key} to ${target.name}, which needs ${c.needs}; this node's capability is ${capability}`,
      };
    }
    return { ok: true, concrete: target, meta: e, capabilityKey: pick.key };
  }

  /** Metas first, stable before development, then the node's preferred build token. */
  private pickAliasCandidate(candidates: GalleryEntry[], capability: string): GalleryEntry | undefined {
    const metas = candidates.filter(isMeta);
    const byStability = (a: GalleryEntry, b: GalleryEntry) =>
      Number(this.isDevelopment(a.name)) - Number(this.isDevelopment(b.name));
    for (const m of [...metas].sort(byStability)) {
      if (this.resolveEntry(m, capability).ok) return m;
    }
    const tokens = preferredBuildTokens(capability);
    const rank = (e: GalleryEntry) => {
      const i = tokens.findIndex((t) => e.name.toLowerCase().includes(t));
      return i < 0 ? tokens.length : i;
    };
    const concretes = candidates
      .filter((c) => !isMeta(c) && concreteCompatibility(c.name, c.uri, capability).ok)
      .sort((a, b) => byStability(a, b) || rank(a) - rank(b));
    return concretes[0];
  }
}
