import { parseDocument } from "yaml";
import { BackendName } from "../protocol/index.js";
import type { GalleryEntry, GalleryWarning, ParsedGallery } from "./types.js";

export class GalleryParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GalleryParseError";
  }
}

const MAX_GALLERY_BYTES = 32 * 1024 * 1024;

/**
 * Parse LocalAI's backend `index.yaml` verbatim: a top-level list, YAML anchors and
 * `!!merge <<:` keys. A file that is not YAML or not a list throws; a single bad entry is
 * skipped with a warning naming it, so one typo does not hide the other 400 backends.
 */
export function parseGalleryIndex(text: string, source: { name: string; url: string }): ParsedGallery {
  if (text.length > MAX_GALLERY_BYTES)
    throw new GalleryParseError(`gallery is too large (${text.length} bytes)`);
  const doc = parseDocument(text, { merge: true, uniqueKeys: false });
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = firstError.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
    const what = (firstError.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    throw new GalleryParseError(`broken YAML${where}: ${what}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (e) {
    throw new GalleryParseError(`broken YAML: ${(e as Error).message}`);
  }
  if (data === null || data === undefined) return { entries: [], warnings: [] };
  if (!Array.isArray(data)) {
    throw new GalleryParseError(`a backend gallery must be a YAML list of entries, got ${describe(data)}`);
  }
  const entries: GalleryEntry[] = [];
  const warnings: GalleryWarning[] = [];
  data.forEach((raw: unknown, index) => {
    const r = toEntry(raw, source);
    if (typeof r === "string") {
      const name = isRecord(raw) && typeof raw.name === "string" ? raw.name : undefined;
      warnings.push({ index, name, message: r });
    } else entries.push(r);
  });
  return { entries, warnings };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  return typeof v === "object" ? "a mapping" : `a ${typeof v}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** YAML turns `version: 1.2` into a number; galleries mean the text. */
function text(v: unknown): string | undefined {
  if (typeof v === "string") return v.trim() === "" ? undefined : v.trim();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

function strings(v: unknown): string[] {
  if (!Array.isArray(v)) return typeof v === "string" && v ? [v] : [];
  return v.map(text).filter((s): s is string => s !== undefined);
}

function toEntry(raw: unknown, source: { name: string; url: string }): GalleryEntry | string {
  if (!isRecord(raw)) return `entry is ${describe(raw)}, not a mapping`;
  const name = text(raw.name);
  if (!name) return "entry has no name";
  if (!BackendName.safeParse(name).success)
    return `entry name ${JSON.stringify(name)} is not a valid backend name`;
  let capabilities: Record<string, string> | undefined;
  if (raw.capabilities !== undefined && raw.capabilities !== null) {
    if (!isRecord(raw.capabilities)) return `${name}: capabilities must be a mapping`;
    capabilities = {};
    for (const [k, v] of Object.entries(raw.capabilities)) {
      const target = text(v);
      if (!target) return `${name}: capability ${k} names no backend`;
      if (!BackendName.safeParse(target).success)
        return `${name}: capability ${k} names an invalid backend ${JSON.stringify(target)}`;
      capabilities[k] = target;
    }
  }
  const uri = text(raw.uri);
  if (!uri && !capabilities) return `${name}: has neither a uri nor capabilities`;
  const sha256 = text(raw.sha256)?.toLowerCase();
  if (sha256 !== undefined && !/^[a-f0-9]{64}$/.test(sha256)) return `${name}: sha256 is not 64 hex digits`;
  return {
    name,
    gallery: source.name,
    galleryUrl: source.url,
    alias: text(raw.alias),
    uri,
    mirrors: strings(raw.mirrors),
    capabilities,
    version: text(raw.version),
    sha256,
    description: text(raw.description),
    license: text(raw.license),
    icon: text(raw.icon),
    urls: strings(raw.urls),
    tags: strings(raw.tags),
  };
}
