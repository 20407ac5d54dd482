import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildImage, parseImageRef, pushImage, type BuildOptions } from "../../src/oci/index.js";
import type { Registry } from "./registry.js";
import { removeDir, tempDir } from "./proc.js";

export interface BackendFiles {
  /** Content of run.sh (made executable). */
  runSh?: string;
  files?: Record<string, string | Buffer>;
}

/** Write a backend directory: run.sh plus any files, into a fresh temp dir. */
export async function makeBackendDir(b: BackendFiles): Promise<string> {
  const dir = await tempDir("backend");
  await writeFile(join(dir, "run.sh"), b.runSh ?? "#!/bin/sh\necho backend\n");
  await chmod(join(dir, "run.sh"), 0o755);
  for (const [name, content] of Object.entries(b.files ?? {})) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** Build a one-layer image from `files` and push it as `repository:tag`; returns its manifest digest. */
export async function pushBackendImage(
  registry: Registry,
  repository: string,
  tag: string,
  files: BackendFiles,
  o: BuildOptions = {},
): Promise<{ ref: string; digest: string }> {
  const dir = await makeBackendDir(files);
  const img = await buildImage([dir], o);
  try {
    const ref = registry.ref(repository, tag);
    const digest = await pushImage(registry.client(), parseImageRef(ref), img);
    return { ref, digest };
  } finally {
    await img.dispose();
    await removeDir(dir);
  }
}
