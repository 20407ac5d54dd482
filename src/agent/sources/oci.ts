import { createReadStream } from "node:fs";
import {
  blobLabels,
  blobStream,
  hostPlatform,
  openBlob,
  resolveImage,
  type Descriptor,
  type Platform,
} from "../../oci/pull.js";
import { parseImageRef, type ImageRef } from "../../oci/reference.js";
import {
  DigestMismatchError,
  SizeMismatchError,
  skipTo,
  verifiedStream,
  type OpenedBody,
  type VerifiedStream,
} from "../../oci/verified-stream.js";
import type { HeldBlob } from "../blob-cache.js";
import { StaleCacheError } from "../errors.js";
import { unpackVerified } from "./unpack-verified.js";
import { streamSettings, type FetchContext, type Resolved, type Source, type SourceDeps } from "./types.js";

/** The cached bytes [from, held.size) of a blob, then the registry's from there on. */
async function* diskThenNetwork(
  held: HeldBlob,
  from: number,
  network: (() => Promise<OpenedBody>) | null,
  what: string,
): AsyncGenerator<Uint8Array> {
  yield* createReadStream(held.path, { start: from, end: held.size - 1 }) as AsyncIterable<Buffer>;
  if (network) yield* skipTo(await network(), held.size, what);
}

interface CachedStream extends VerifiedStream {
  /** The stream itself failed (not what read it): a transport failure keeps the partial. */
  failure(): unknown;
  /** Read to the end and verified. */
  complete(): boolean;
}

/**
 * A layer through the blob cache: what is on disk is read first, the rest downloaded with Range
 * and appended to the partial file, and the whole checked against the digest in one pass, as a
 * plain download is. Rate limiting applies to the downloaded bytes only.
 */
function cachedBlobStream(
  deps: SourceDeps,
  ref: ImageRef,
  layer: Descriptor,
  held: HeldBlob,
  ctx: FetchContext,
  onRetry: (r: { from: number; error: string }) => void,
): CachedStream {
  const onDisk = held.size;
  let throttled = 0;
  let counted = 0;
  const throttle = deps.throttle;
  const labels = blobLabels(ref, layer);
  const vs = verifiedStream({
    ...labels,
    ...streamSettings(deps),
    expectedSize: layer.size,
    expectedDigest: layer.digest,
    signal: ctx.signal,
    onBytes: (n) => {
      // Bytes below onDisk were read from the cache: progress, but not downloads.
      const start = counted;
      counted += n;
      const fromDisk = Math.max(0, Math.min(n, onDisk - start));
      if (fromDisk > 0) ctx.onBytes(fromDisk, true);
      if (n > fromDisk) ctx.onBytes(n - fromDisk);
    },
    throttle: throttle
      ? (n, signal) => {
          const start = throttled;
          throttled += n;
          return start + n > onDisk ? throttle(Math.min(n, start + n - onDisk), signal) : Promise.resolve();
        }
      : undefined,
    onRetry,
    async open(from, signal) {
      if (from >= onDisk) return openBlob(deps.registry, ref, layer, from, signal);
      const rest = onDisk < layer.size ? () => openBlob(deps.registry, ref, layer, onDisk, signal) : null;
      return { start: from, body: diskThenNetwork(held, from, rest, labels.what) };
    },
  });
  let failure: unknown;
  let pos = 0;
  const chunks = (async function* () {
    try {
      for await (const c of vs.chunks) {
        if (pos + c.byteLength > onDisk) await held.append(c.subarray(Math.max(0, onDisk - pos)));
        pos += c.byteLength;
        yield c;
      }
    } catch (e) {
      failure = e;
      throw e;
    }
  })();
  const complete = () => {
    try {
      vs.result();
      return true;
    } catch {
      return false;
    }
  };
  return { chunks, result: () => vs.result(), failure: () => failure, complete };
}

/**
 * An OCI image: resolve the tag (index -> this platform's manifest), then stream every layer in
 * order through digest check, gunzip and safe untar into the staging dir. With a blob cache, the
 * bytes of a layer are kept as they arrive, so a retried op continues where the last one stopped.
 */
export function ociSource(uri: string, deps: SourceDeps, platform: Platform = hostPlatform()): Source {
  const ref = parseImageRef(uri);
  return {
    uri,
    async resolve(signal): Promise<Resolved> {
      const img = await resolveImage(deps.registry, ref, platform, signal);
      const totalBytes = img.layers.reduce((s, l) => s + l.size, 0);
      return {
        uri,
        digest: img.digest,
        totalBytes,
        blobs: img.layers.map((l) => l.digest),
        version: img.annotations["org.opencontainers.image.version"],
        async fetch(ctx) {
          await deps.blobs?.noteImage(totalBytes);
          for (const [i, layer] of img.layers.entries()) {
            const onRetry = (r: { from: number; error: string }) =>
              deps.log.warn("resuming a layer download", { uri, layer: i + 1, from: r.from, error: r.error });
            const what = `layer ${layer.digest}`;
            const opts = { cwd: ctx.staging, state: ctx.state, whiteouts: true };
            if (!deps.blobs?.enabled) {
              const blob = blobStream(deps.registry, ref, layer, {
                ...streamSettings(deps),
                signal: ctx.signal,
                onBytes: ctx.onBytes,
                onRetry,
              });
              await unpackVerified(blob, opts, what, ctx.signal);
            } else {
              const held = await deps.blobs.hold(layer.digest, layer.size, ctx.signal);
              try {
                if (held.size > 0) {
                  deps.log.info(held.complete ? "using a cached layer" : "resuming a cached partial layer", {
                    uri,
                    layer: i + 1,
                    bytes: held.size,
                  });
                }
                const blob = cachedBlobStream(deps, ref, layer, held, ctx, onRetry);
                try {
                  await unpackVerified(blob, opts, what, ctx.signal);
                } catch (e) {
                  const failure = blob.failure();
                  const transport =
                    ctx.signal.aborted ||
                    (failure !== undefined &&
                      !(failure instanceof DigestMismatchError) &&
                      !(failure instanceof SizeMismatchError));
                  // Kept for the next attempt unless the bytes themselves are in doubt.
                  if (!transport) {
                    await held.discard();
                    if (held.size > 0) throw new StaleCacheError(layer.digest, e);
                  }
                  throw e;
                }
                if (blob.complete()) await held.finish();
              } finally {
                await held.release();
              }
            }
            if (i < img.layers.length - 1) ctx.layerDone?.();
          }
          await deps.blobs?.trim();
          return { digest: img.digest };
        },
      };
    },
  };
}
