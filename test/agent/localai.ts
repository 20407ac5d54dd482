import { execFile } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

/** A backend as LocalAI's `ListSystemBackends` (core/gallery/backends.go) sees it. */
export interface SeenBackend {
  runFile: string;
  isMeta: boolean;
  metadata: {
    name?: string;
    alias?: string;
    meta_backend_for?: string;
    uri?: string;
    digest?: string;
    version?: string;
  };
}

/**
 * List `root` the way LocalAI does: `os.ReadDir` keeps entries whose `IsDir()` is true (a
 * symlink is not a directory there), `os.Stat(<dir>/run.sh)` makes a concrete backend, a
 * `metadata.json` that exists but does not parse fails the whole listing, and a metadata with
 * `meta_backend_for` adds a meta entry whose run file is the concrete's.
 */
export async function localaiList(root: string): Promise<Record<string, SeenBackend>> {
  const out: Record<string, SeenBackend> = {};
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const dir = join(root, e.name);
    let metadata: SeenBackend["metadata"] = { name: e.name };
    const mdPath = join(dir, "metadata.json");
    if (await stat(mdPath).catch(() => null)) {
      metadata = JSON.parse(await readFile(mdPath, "utf8")) as SeenBackend["metadata"];
    }
    const run = join(dir, "run.sh");
    if (await stat(run).catch(() => null)) out[e.name] = { runFile: run, isMeta: false, metadata };
    if (metadata.meta_backend_for) {
      out[metadata.name ?? e.name] = {
        runFile: join(root, metadata.meta_backend_for, "run.sh"),
        isMeta: true,
        metadata,
      };
    }
  }
  return out;
}

/** Start a run file as LocalAI does (working directory = its directory); its stdout. */
export async function runBackend(runFile: string): Promise<string> {
  const { stdout } = await promisify(execFile)(runFile, [], { cwd: dirname(runFile), timeout: 10_000 });
  return stdout;
}

/** name -> [uri, digest, version] of every backend LocalAI would list. */
export async function localaiSummary(
  root: string,
): Promise<Record<string, [string | null, string | null, string | null]>> {
  const out: Record<string, [string | null, string | null, string | null]> = {};
  for (const [name, b] of Object.entries(await localaiList(root))) {
    out[name] = [b.metadata.uri ?? null, b.metadata.digest ?? null, b.metadata.version ?? null];
  }
  return out;
}
