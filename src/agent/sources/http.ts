import { rangedBody, rangedGet } from "../../oci/ranged-get.js";
import { DEFAULT_REQUEST_TIMEOUT_MS, RegistryError } from "../../oci/registry-client.js";
import { isLoopbackHost } from "../../lib/net.js";
import { verifiedStream } from "../../oci/verified-stream.js";
import { OpRefusedError } from "../errors.js";
import { unpackVerified } from "./unpack-verified.js";
import { streamSettings, type Resolved, type Source, type SourceDeps } from "./types.js";

/** A tarball (tar, tar.gz, tar.zst) over http(s), sha256-checked, resumed with Range when dropped. */
export function httpSource(uri: string, sha256: string | undefined, deps: SourceDeps): Source {
  const url = new URL(uri);
  if (
    url.protocol === "http:" &&
    !sha256 &&
    !isLoopbackHost(url.host) &&
    !deps.insecureHosts.includes(url.host)
  ) {
    throw new OpRefusedError(
      `${uri}: plain http needs a sha256 in the gallery, or the host named with --insecure-registry`,
    );
  }
  const expectedDigest = sha256 ? `sha256:${sha256}` : undefined;
  return {
    uri,
    async resolve(signal): Promise<Resolved> {
      let totalBytes: number | null = null;
      // Only a size hint: a server that does not answer in time is asked again by the GET.
      const head = await fetch(uri, {
        method: "HEAD",
        signal: AbortSignal.any([
          signal,
          AbortSignal.timeout(deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
        ]),
        redirect: "follow",
      }).catch(() => null);
      if (head && head.status === 404) throw new RegistryError(`${uri}: HTTP 404`, 404);
      if (head?.ok) {
        const len = Number(head.headers.get("content-length"));
        if (Number.isSafeInteger(len) && len > 0) totalBytes = len;
      }
      return {
        uri,
        digest: expectedDigest,
        totalBytes,
        async fetch(ctx) {
          const body = verifiedStream({
            what: uri,
            source: url.host,
            expectedDigest,
            maxBytes: ctx.state.limits.maxBytes,
            ...streamSettings(deps),
            signal: ctx.signal,
            onBytes: ctx.onBytes,
            onRetry: (r) => deps.log.warn("resuming a download", { uri, from: r.from, error: r.error }),
            async open(from, sig) {
              const res = await rangedGet(url, from, { signal: sig });
              return rangedBody(res, from, `GET ${uri}`);
            },
          });
          await unpackVerified(body, { cwd: ctx.staging, state: ctx.state }, uri, ctx.signal);
          return { digest: body.result().digest };
        },
      };
    },
  };
}
