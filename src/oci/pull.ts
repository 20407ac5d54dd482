import { endianness } from "node:os";
import { isIndexType, MediaType } from "./media-types.js";
import { rangedBody, rangedGet } from "./ranged-get.js";
import { formatImageRef, type ImageRef } from "./reference.js";
import { RegistryError, type RegistryClient } from "./registry-client.js";
import {
  verifiedStream,
  type OpenedBody,
  type VerifiedStream,
  type VerifiedStreamOptions,
} from "./verified-stream.js";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { "os.version"?: string };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ResolvedImage {
  ref: ImageRef;
  /** Digest of the document the reference resolved to (an index or a manifest): what HEAD reports. */
  digest: string;
  /** Digest of the image manifest whose layers are used (equals `digest` without an index). */
  manifestDigest: string;
  /** The platform chosen from an index, if there was one. */
  platform?: Platform;
  layers: Descriptor[];
  annotations: Record<string, string>;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const LAYER_TYPES = new Set<string>([
  MediaType.ociLayerGzip,
  MediaType.ociLayerTar,
  "application/vnd.oci.image.layer.v1.tar+zstd",
  MediaType.dockerLayerGzip,
]);
const MAX_LAYERS = 128;

/** The platform of this process in OCI terms (GOOS/GOARCH). */
export function hostPlatform(): Platform {
  const os = process.platform === "win32" ? "windows" : process.platform;
  switch (process.arch) {
    case "x64":
      return { os, architecture: "amd64" };
    case "arm64":
      return { os, architecture: "arm64", variant: "v8" };
    case "arm": {
      const v = (process.config.variables as { arm_version?: string }).arm_version;
      return { os, architecture: "arm", variant: v ? `v${v}` : undefined };
    }
    case "ia32":
      return { os, architecture: "386" };
    case "ppc64":
      return { os, architecture: endianness() === "LE" ? "ppc64le" : "ppc64" };
    default:
      return { os, architecture: process.arch };
  }
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.platform?.os === "unknown" ||
    d.platform?.architecture === "unknown" ||
    d.annotations?.["vnd.docker.reference.type"] !== undefined
  );
}

function variantMatches(want: Platform, have: Platform): boolean {
  // An unnamed variant matches any: arm64 images rarely name theirs (v8 is implied).
  return !want.variant || !have.variant || want.variant === have.variant;
}

/**
 * Pick the manifest for `want` from an index: the first entry whose os and architecture match and
 * whose variant is compatible, skipping attestations and entries of unknown media types.
 */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  return manifests.find(
    (d) =>
      (d.mediaType === MediaType.ociManifest || d.mediaType === MediaType.dockerManifest) &&
      !isAttestation(d) &&
      d.platform?.os === want.os &&
      d.platform.architecture === want.architecture &&
      variantMatches(want, d.platform),
  );
}

const describePlatform = (p?: Platform) =>
  p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}` : "?";

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RegistryError(`${what}: not a JSON manifest`);
}

function descriptors(v: unknown, what: string): Descriptor[] {
  if (!Array.isArray(v)) throw new RegistryError(`${what}: missing descriptor list`);
  return v.map((d: unknown, i) => {
    const o = d as Partial<Descriptor>;
    if (typeof o?.digest !== "string" || !DIGEST.test(o.digest))
      throw new RegistryError(`${what}: descriptor ${i} has no sha256 digest`);
    if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0)
      throw new RegistryError(`${what}: descriptor ${i} has no valid size`);
    return { ...o, mediaType: String(o.mediaType ?? ""), digest: o.digest, size: o.size } as Descriptor;
  });
}

function mediaTypeOf(doc: Record<string, unknown>, contentType: string): string {
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : "";
  const header = contentType.split(";")[0]!.trim();
  return declared || header;
}

/**
 * Resolve a reference to the layers of the image for `platform`: GET the manifest (sending every
 * manifest media type), and when it is an index pick the platform and GET that manifest by
 * digest. Digests are computed from the bytes received, never taken from headers.
 */
export async function resolveImage(
  client: RegistryClient,
  ref: ImageRef,
  platform: Platform = hostPlatform(),
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const name = formatImageRef(ref);
  const top = await client.getManifest(ref, undefined, signal);
  const topDoc = parseJson(top.body, name);
  if (topDoc.schemaVersion === 1) throw new RegistryError(`${name}: schema 1 manifests are not supported`);
  let doc = topDoc;
  let manifestDigest = top.digest;
  let chosen: Platform | undefined;
  if (isIndexType(mediaTypeOf(topDoc, top.mediaType)) || Array.isArray(topDoc.manifests)) {
    const entries = descriptors(topDoc.manifests, name);
    const pick = selectPlatform(entries, platform);
    if (!pick) {
      const offered = entries.filter((d) => !isAttestation(d)).map((d) => describePlatform(d.platform));
      throw new RegistryError(
        `${name} has no image for ${describePlatform(platform)} (offers ${offered.join(", ") || "nothing"})`,
      );
    }
    const m = await client.getManifest(ref, pick.digest, signal);
    doc = parseJson(m.body, `${name}@${pick.digest}`);
    manifestDigest = m.digest;
    chosen = pick.platform;
  }
  const layers = descriptors(doc.layers, name);
  if (layers.length === 0) throw new RegistryError(`${name}: the image has no layers`);
  if (layers.length > MAX_LAYERS) throw new RegistryError(`${name}: more than ${MAX_LAYERS} layers`);
  for (const l of layers) {
    if (l.urls?.length || !LAYER_TYPES.has(l.mediaType)) {
      throw new RegistryError(`${name}: unsupported layer ${l.digest} (${l.mediaType || "no media type"})`);
    }
  }
  const annotations = (doc.annotations ?? {}) as Record<string, string>;
  return { ref, digest: top.digest, manifestDigest, platform: chosen, layers, annotations };
}

export type BlobStreamOptions = Pick<
  VerifiedStreamOptions,
  "signal" | "retries" | "stallMs" | "retryAfter" | "onBytes" | "throttle" | "onRetry"
>;

/**
 * GET a layer's blob from byte `from` (a Range request when resuming). Each call starts again at
 * the registry URL, so an expired presigned redirect is renewed.
 */
export async function openBlob(
  client: RegistryClient,
  ref: ImageRef,
  layer: Descriptor,
  from: number,
  signal: AbortSignal,
): Promise<OpenedBody> {
  const url = new URL(`${client.baseUrl(ref.registry)}/v2/${ref.repository}/blobs/${layer.digest}`);
  const get = (authorization?: string) => rangedGet(url, from, { authorization, signal });
  let res = await get(await client.pullAuthorization(ref));
  if (res.status === 401) {
    res.body.resume();
    const challenge = String(res.headers["www-authenticate"] ?? "");
    res = await get(await client.pullAuthorization(ref, challenge, signal));
    if (res.status === 401) {
      res.body.resume();
      throw new RegistryError(`${ref.registry}: authentication refused for ${ref.repository}`, 401);
    }
  }
  // A 416 too is retried: the registry may still be committing the blob.
  return rangedBody(res, from, `GET blob ${layer.digest.slice(0, 19)}`, [416]);
}

/** What a blob download is called in messages, and who sends it. */
export const blobLabels = (ref: ImageRef, layer: Descriptor) => ({
  what: `blob ${layer.digest}`,
  source: `registry ${ref.registry}`,
});

/** A layer's bytes, size- and digest-checked, resuming with Range after a dropped connection or a stall. */
export function blobStream(
  client: RegistryClient,
  ref: ImageRef,
  layer: Descriptor,
  o: BlobStreamOptions = {},
): VerifiedStream {
  return verifiedStream({
    ...o,
    ...blobLabels(ref, layer),
    expectedSize: layer.size,
    expectedDigest: layer.digest,
    open: (from, signal) => openBlob(client, ref, layer, from, signal),
  });
}
