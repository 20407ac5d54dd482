import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { create as tarCreate } from "tar";
import { MediaType } from "./media-types.js";
import type { ImageRef } from "./reference.js";
import type { RegistryClient } from "./registry-client.js";

export interface BuiltLayer {
  path: string;
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar, as the config's rootfs.diff_ids wants. */
  diffId: string;
}

export interface BuiltImage {
  workDir: string;
  layers: BuiltLayer[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  /** Remove the temp files holding the layers. */
  dispose(): Promise<void>;
}

export interface BuildOptions {
  os?: string;
  architecture?: string;
  /** OCI annotations on the manifest (e.g. org.opencontainers.image.version). */
  annotations?: Record<string, string>;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function hashing(h: ReturnType<typeof createHash>, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

/** Tar + gzip one directory in a single streaming pass, hashing both forms on the way. */
async function buildLayer(dir: string, out: string): Promise<BuiltLayer> {
  const entries = (await readdir(dir)).sort();
  const raw = createHash("sha256");
  const gz = createHash("sha256");
  const rawCount = { n: 0 };
  const gzCount = { n: 0 };
  const tarStream = tarCreate(
    { cwd: dir, portable: true, mtime: new Date(0), gzip: false },
    entries,
  ) as unknown as Readable;
  await pipeline(
    tarStream,
    hashing(raw, rawCount),
    createGzip({ level: 6 }),
    hashing(gz, gzCount),
    createWriteStream(out),
  );
  return {
    path: out,
    digest: `sha256:${gz.digest("hex")}`,
    size: gzCount.n,
    diffId: `sha256:${raw.digest("hex")}`,
  };
}

/** Build an OCI image with one layer per directory (usually one: a backend directory). */
export async function buildImage(dirs: string[], o: BuildOptions = {}): Promise<BuiltImage> {
  for (const d of dirs) {
    if (!(await stat(d)).isDirectory()) throw new Error(`${d} is not a directory`);
  }
  const workDir = await mkdtemp(join(tmpdir(), "bp-image-"));
  const layers: BuiltLayer[] = [];
  for (const [i, d] of dirs.entries()) layers.push(await buildLayer(d, join(workDir, `layer-${i}.tar.gz`)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: o.architecture ?? "amd64",
      os: o.os ?? "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.size })),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    }),
  );
  return {
    workDir,
    layers,
    config,
    configDigest,
    manifest,
    manifestDigest: sha256(manifest),
    dispose: () => rm(workDir, { recursive: true, force: true }),
  };
}

/** Push every blob then the manifest under `ref.tag`; returns the manifest digest. */
export async function pushImage(client: RegistryClient, ref: ImageRef, img: BuiltImage): Promise<string> {
  for (const l of img.layers) {
    await client.pushBlob(
      ref,
      l.digest,
      l.size,
      () => Readable.toWeb(createReadStream(l.path)) as ReadableStream,
    );
  }
  await client.pushBlob(ref, img.configDigest, img.config.length, () => {
    const p = new PassThrough();
    p.end(img.config);
    return Readable.toWeb(p) as ReadableStream;
  });
  return client.pushManifest(ref, ref.tag ?? "latest", img.manifest, MediaType.ociManifest);
}
