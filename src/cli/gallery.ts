import {
  GalleryLoader,
  parseGallerySources,
  type GalleryCatalog,
  type GalleryEntry,
} from "../gallery/index.js";
import type { CapabilityResolution, GalleryEntrySummary } from "../protocol/index.js";
import { CONNECTION_HELP, envBacked, list, parse, str, UsageError } from "./args.js";
import { formatTable } from "./output.js";
import { commonFlags, withSession } from "./session.js";

export const flags = {
  ...commonFlags,
  ...envBacked({
    gallery: { type: "string", multiple: true },
    capability: { type: "string" },
    "dev-suffix": { type: "string" },
  } as const),
} as const;

const HELP = `Usage: backplane gallery list|show NAME|resolve NAME [--capability X] [--gallery SRC[,SRC]] [--json]

Shows the backend gallery and what a node would get. Without --gallery it asks the controller
(the galleries the cluster actually uses); with --gallery it reads LocalAI backend galleries
(index.yaml files or http(s) URLs, optionally name=SRC) itself, the way the controller does.

  list                     every entry: kind (meta/concrete), development variant, alias
  show NAME                one entry in full, with its twins and capability map
  resolve NAME             the concrete build a node of --capability X gets (every capability
                           key of the gallery when --capability is omitted); exit 1 if none

Flags (each also from the env var in brackets):
  --gallery SRC[,SRC]  [BACKPLANE_GALLERY] read these instead of asking the controller
  --capability X       [BACKPLANE_CAPABILITY] e.g. default, nvidia-cuda-12, metal
  --dev-suffix S       [BACKPLANE_DEV_SUFFIX] default development (with --gallery)
  --json               machine-readable output

${CONNECTION_HELP}
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export function run(argv: string[]): Promise<number> {
  return runWith(argv, stdio);
}

/** One entry as `list` and `show` print it; the local reader knows more than the controller says. */
interface EntryDetail extends GalleryEntrySummary {
  stableTwin?: string;
  devTwin?: string;
  mirrors?: string[];
  sha256?: string;
  license?: string;
  urls?: string[];
  tags?: string[];
}

/** Where the gallery comes from: index files read here, or the controller's loaded catalogue. */
interface GallerySource {
  entries(): Promise<EntryDetail[]>;
  resolve(name: string, capabilities: string[]): Promise<CapabilityResolution[]>;
}

function detail(cat: GalleryCatalog, e: GalleryEntry): EntryDetail {
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
    description: e.description,
    mirrors: e.mirrors,
    sha256: e.sha256,
    license: e.license,
    urls: e.urls,
    tags: e.tags,
  };
}

function localSource(cat: GalleryCatalog): GallerySource {
  return {
    entries: async () => cat.entries.map((e) => detail(cat, e)),
    resolve: async (name, capabilities) => capabilities.map((c) => cat.describe(name, c)),
  };
}

/** Reads the galleries given with --gallery; undefined (and the reasons printed) when none loaded. */
async function loadLocal(
  sources: ReturnType<typeof parseGallerySources>,
  devSuffix: string | undefined,
  io: Io,
) {
  const loader = new GalleryLoader({ sources, devSuffix });
  const cat = await loader.load();
  for (const s of loader.status) {
    if (s.error) io.err(`gallery ${s.name} (${s.url}): ${s.error}\n`);
    for (const w of s.warnings)
      io.err(`gallery ${s.name}: entry ${w.index}${w.name ? ` (${w.name})` : ""} skipped: ${w.message}\n`);
  }
  return loader.status.every((s) => s.entries === 0) ? undefined : localSource(cat);
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
  if (!["list", "show", "resolve"].includes(cmd))
    throw new UsageError(`unknown gallery command ${cmd} (list, show, resolve)`);
  const sources = parseGallerySources(list(v.gallery));
  if (sources.length > 0) {
    const local = await loadLocal(sources, str(v["dev-suffix"]), io);
    return local ? show(local, cmd, name, str(v.capability), v.json === true, io) : 1;
  }
  if (v["dev-suffix"] !== undefined) throw new UsageError("--dev-suffix needs --gallery");
  return withSession(p, (client) =>
    show(
      {
        entries: async () => (await client.call("gallery.list", {})).entries,
        resolve: async (backend, capabilities) =>
          (await client.call("gallery.resolve", { backend, capabilities, nodes: [] })).capabilities ?? [],
      },
      cmd,
      name,
      str(v.capability),
      v.json === true,
      io,
    ),
  );
}

async function show(
  src: GallerySource,
  cmd: string,
  name: string | undefined,
  capability: string | undefined,
  json: boolean,
  io: Io,
): Promise<number> {
  switch (cmd) {
    case "list": {
      if (name) throw new UsageError(`unexpected argument ${name}`);
      const rows = (await src.entries()).map(
        ({ description: _d, mirrors: _m, sha256: _s, license: _l, urls: _u, tags: _t, ...summary }) =>
          summary,
      );
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
      const entries = await src.entries();
      const known = new Set(entries.map((x) => x.name.toLowerCase()));
      const e = entries.find((x) => x.name.toLowerCase() === name.toLowerCase());
      if (!e) {
        io.err(`unknown backend ${name}\n`);
        return 1;
      }
      if (json) io.out(JSON.stringify(e, null, 2) + "\n");
      else {
        const lines = Object.entries(e)
          .filter(([, x]) => x !== undefined && typeof x !== "object")
          .map(([k, x]) => `${k}: ${String(x).trim()}`);
        if (e.mirrors?.length) lines.push(`mirrors: ${e.mirrors.join(", ")}`);
        for (const [k, t] of Object.entries(e.capabilities ?? {}))
          lines.push(`  ${k} -> ${t}${known.has(t.toLowerCase()) ? "" : "  (missing!)"}`);
        io.out(lines.join("\n") + "\n");
      }
      return 0;
    }
    default: {
      if (!name) throw new UsageError("resolve needs a backend name");
      const caps = capability
        ? [capability]
        : [...new Set((await src.entries()).flatMap((e) => Object.keys(e.capabilities ?? {})))].sort();
      if (caps.length === 0) caps.push("default");
      const results = (await src.resolve(name, caps)).map((r) => ({ ...r, ok: r.error === undefined }));
      if (json) io.out(JSON.stringify(results, null, 2) + "\n");
      else {
        io.out(
          formatTable(
            ["CAPABILITY", "GETS", "URI / WHY NOT"],
            results.map((r) => [r.capability, r.concrete ?? "-", r.ok ? (r.uri ?? "") : (r.error ?? "")]),
          ),
        );
      }
      return results.every((r) => r.ok) ? 0 : 1;
    }
  }
}
