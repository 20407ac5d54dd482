import {
  GalleryLoader,
  isMeta,
  parseGallerySources,
  type GalleryCatalog,
  type GalleryEntry,
} from "../gallery/index.js";
import { list, parse, str, UsageError } from "./args.js";
import { formatTable } from "./output.js";

const flags = {
  gallery: { type: "string", multiple: true },
  capability: { type: "string" },
  "dev-suffix": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `Usage: backplane gallery list|show NAME|resolve NAME [--capability X] --gallery SRC[,SRC] [--json]

Reads LocalAI backend galleries (index.yaml files or http(s) URLs, optionally name=SRC) the way the
controller does, and shows what a node would get:

  list                     every entry: kind (meta/concrete), development variant, alias
  show NAME                one entry in full, with its twins and capability map
  resolve NAME             the concrete build a node of --capability X gets (every capability
                           key of the gallery when --capability is omitted); exit 1 if none

Flags (each also from the env var in brackets):
  --gallery SRC[,SRC]  [BACKPLANE_GALLERY]
  --capability X       [BACKPLANE_CAPABILITY] e.g. default, nvidia-cuda-12, metal
  --dev-suffix S       [BACKPLANE_DEV_SUFFIX] default development
  --json               machine-readable output
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export function run(argv: string[]): Promise<number> {
  return runWith(argv, stdio);
}

function summary(cat: GalleryCatalog, e: GalleryEntry) {
  const c = cat.classify(e);
  return {
    name: e.name,
    gallery: e.gallery,
    kind: c.kind,
    development: c.development,
    alias: e.alias,
    uri: e.uri,
    version: e.version,
    capabilities: c.kind === "meta" ? e.capabilities : undefined,
    stableTwin: c.stableTwin,
    devTwin: c.devTwin,
  };
}

export async function runWith(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const p = parse(argv, flags, env);
  const v = p.values;
  const [cmd, name, ...extra] = p.positionals;
  if (v.help || !cmd) {
    io.out(HELP);
    return v.help ? 0 : 2;
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  const sources = parseGallerySources(list(v.gallery));
  if (sources.length === 0)
    throw new UsageError("--gallery is required (a LocalAI backend index.yaml path or URL)");
  const loader = new GalleryLoader({ sources, devSuffix: str(v["dev-suffix"]) });
  const cat = await loader.load();
  for (const s of loader.status) {
    if (s.error) io.err(`gallery ${s.name} (${s.url}): ${s.error}\n`);
    for (const w of s.warnings)
      io.err(`gallery ${s.name}: entry ${w.index}${w.name ? ` (${w.name})` : ""} skipped: ${w.message}\n`);
  }
  if (loader.status.every((s) => s.entries === 0)) return 1;
  const json = v.json === true;

  switch (cmd) {
    case "list": {
      if (name) throw new UsageError(`unexpected argument ${name}`);
      const rows = cat.entries.map((e) => summary(cat, e));
      if (json) io.out(JSON.stringify(rows, null, 2) + "\n");
      else {
        io.out(
          formatTable(
            ["NAME", "KIND", "DEV", "ALIAS", "URI / CAPABILITIES"],
            rows.map((r) => [
              r.name,
              r.kind,
              r.development ? "dev" : "",
              r.alias ?? "",
              r.uri ?? Object.keys(r.capabilities ?? {}).join(","),
            ]),
          ),
        );
      }
      return 0;
    }
    case "show": {
      if (!name) throw new UsageError("show needs a backend name");
      const e = cat.find(name);
      if (!e) {
        io.err(`unknown backend ${name}\n`);
        return 1;
      }
      const s = {
        ...summary(cat, e),
        mirrors: e.mirrors,
        sha256: e.sha256,
        description: e.description,
        license: e.license,
        urls: e.urls,
        tags: e.tags,
      };
      if (json) io.out(JSON.stringify(s, null, 2) + "\n");
      else {
        const lines = Object.entries(s)
          .filter(
            ([, x]) => x !== undefined && !(Array.isArray(x) && x.length === 0) && typeof x !== "object",
          )
          .map(([k, x]) => `${k}: ${String(x).trim()}`);
        if (e.mirrors.length) lines.push(`mirrors: ${e.mirrors.join(", ")}`);
        if (isMeta(e))
          for (const [k, t] of Object.entries(e.capabilities ?? {}))
            lines.push(`  ${k} -> ${t}${cat.find(t) ? "" : "  (missing!)"}`);
        io.out(lines.join("\n") + "\n");
      }
      return 0;
    }
    case "resolve": {
      if (!name) throw new UsageError("resolve needs a backend name");
      const caps = str(v.capability)
        ? [str(v.capability)!]
        : [...new Set(cat.entries.flatMap((e) => Object.keys(e.capabilities ?? {})))].sort();
      if (caps.length === 0) caps.push("default");
      const results = caps.map((capability) => {
        const r = cat.resolve(name, capability);
        return r.ok
          ? {
              capability,
              ok: true,
              concrete: r.concrete.name,
              uri: r.concrete.uri,
              meta: r.meta?.name,
              capabilityKey: r.capabilityKey,
              alias: r.alias,
            }
          : { capability, ok: false, error: r.error };
      });
      if (json) io.out(JSON.stringify(results, null, 2) + "\n");
      else {
        io.out(
          formatTable(
            ["CAPABILITY", "GETS", "URI / WHY NOT"],
            results.map((r) => [r.capability, r.ok ? r.concrete! : "-", r.ok ? (r.uri ?? "") : r.error!]),
          ),
        );
      }
      return results.every((r) => r.ok) ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown gallery command ${cmd} (list, show, resolve)`);
  }
}
