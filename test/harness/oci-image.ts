import { createHash } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { buildImage, MediaType, parseImageRef, pushImage, type BuildOptions } from "../../src/oci/index.js";
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

/**
 * Push an image whose layers are the given archive bytes as they are (hand-made tarballs no
 * well-behaved builder would write); returns its reference and manifest digest.
 */
export async function pushLayers(
  registry: Registry,
  repository: string,
  tag: string,
  layers: Buffer[],
): Promise<{ ref: string; digest: string }> {
  const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const ref = registry.ref(repository, tag);
  const r = parseImageRef(ref);
  const client = registry.client();
  const blob = (b: Buffer) => () => new Blob([new Uint8Array(b)]).stream();
  for (const l of layers) await client.pushBlob(r, sha(l), l.length, blob(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha(l[0] === 0x1f ? gunzipSync(l) : l)) },
    }),
  );
  await client.pushBlob(r, sha(config), config.length, blob(config));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: l[0] === 0x1f ? MediaType.ociLayerGzip : MediaType.ociLayerTar,
        digest: sha(l),
        size: l.length,
      })),
    }),
  );
  const digest = await client.pushManifest(r, tag, manifest, MediaType.ociManifest);
  return { ref, digest };
}
