import { hostPlatform, resolveImage, blobStream, type Platform } from "../../oci/pull.js";
import { parseImageRef } from "../../oci/reference.js";
import { unpackVerified } from "./unpack-verified.js";
import type { Resolved, Source, SourceDeps } from "./types.js";

/**
 * An OCI image: resolve the tag (index -> this platform's manifest), then stream every layer in
 * order through digest check, gunzip and safe untar into the staging dir.
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
        version: img.annotations["org.opencontainers.image.version"],
        async fetch(ctx) {
          for (const [i, layer] of img.layers.entries()) {
            const blob = blobStream(deps.registry, ref, layer, {
              signal: ctx.signal,
              retries: deps.retries,
              stallMs: deps.stallMs,
              onBytes: ctx.onBytes,
              throttle: deps.throttle,
              onRetry: (r) =>
                deps.log.warn("resuming a layer download", {
                  uri,
                  layer: i + 1,
                  from: r.from,
                  error: r.error,
                }),
            });
            await unpackVerified(
              blob,
              { cwd: ctx.staging, state: ctx.state, whiteouts: true },
              `layer ${layer.digest}`,
              ctx.signal,
            );
            if (i < img.layers.length - 1) ctx.layerDone?.();
          }
          return { digest: img.digest };
        },
      };
    },
  };
}
