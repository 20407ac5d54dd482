import { open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BackendMetadata, validate } from "../protocol/index.js";

export const METADATA_FILE = "metadata.json";

/** LocalAI's field order; undefined fields are left out as its `omitempty` does. */
const FIELDS = [
  "alias",
  "meta_backend_for",
  "name",
  "gallery_url",
  "installed_at",
  "version",
  "uri",
  "digest",
] as const satisfies ReadonlyArray<keyof BackendMetadata>;

export function renderMetadata(md: BackendMetadata): string {
  const out: Record<string, string> = {};
  for (const f of FIELDS) {
    const v = md[f];
    if (v !== undefined && v !== "") out[f] = v;
  }
  return JSON.stringify(out, null, 2) + "\n";
}

/** Read a metadata.json; a missing or unreadable one is `{ name: <dir name> }`, as LocalAI does. */
export async function readMetadata(dir: string, fallbackName: string): Promise<BackendMetadata> {
  let raw: string;
  try {
    raw = await readFile(join(dir, METADATA_FILE), "utf8");
  } catch {
    return { name: fallbackName };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { name: fallbackName };
  }
  const d = validate(BackendMetadata, { name: fallbackName, ...(json as object) });
  return d.ok ? d.value : { name: fallbackName };
}

/** Write a file durably: temp file, fsync, rename over, fsync the directory. */
export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${Date.now().toString(36)}-${process.pid}.tmp`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

export async function writeMetadata(dir: string, md: BackendMetadata): Promise<void> {
  await writeFileAtomic(join(dir, METADATA_FILE), renderMetadata(md));
}

/** Make a rename or link change in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
