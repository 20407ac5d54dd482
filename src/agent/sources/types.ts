import type { Logger } from "../../lib/log.js";
import type { RegistryClient } from "../../oci/registry-client.js";
import type { RetryAfterLimits } from "../../oci/retry-after.js";
import type { VerifiedStreamOptions } from "../../oci/verified-stream.js";
import type { BlobCache } from "../blob-cache.js";
import type { ExtractState } from "../extract.js";

/** What every source needs from the agent. */
export interface SourceDeps {
  registry: RegistryClient;
  /** Hosts (`host:port`) allowed to serve plain HTTP besides loopback. */
  insecureHosts: string[];
  throttle?: (n: number, signal: AbortSignal) => Promise<void>;
  log: Logger;
  /** Resume attempts after a dropped connection. */
  retries?: number;
  stallMs?: number;
  /** Limit on the requests that are not downloads (an http source's HEAD). */
  requestTimeoutMs?: number;
  /** Bounds on waiting out 429/503 answers with Retry-After. */
  retryAfter?: RetryAfterLimits;
  /** Partial and complete blobs kept across attempts (OCI layers); none when undefined. */
  blobs?: BlobCache;
}

/** What every source passes on from its deps to the verified stream of a download. */
export function streamSettings(
  deps: SourceDeps,
): Pick<VerifiedStreamOptions, "retries" | "stallMs" | "retryAfter" | "throttle"> {
  return {
    retries: deps.retries,
    stallMs: deps.stallMs,
    retryAfter: deps.retryAfter,
    throttle: deps.throttle,
  };
}

export interface FetchContext {
  signal: AbortSignal;
  /** Empty, private directory the content is extracted into. */
  staging: string;
  /** Progress: `cached` bytes came from the blob cache, not the network. */
  onBytes(n: number, cached?: boolean): void;
  state: ExtractState;
  /** A layer is fully extracted (the store may start flushing it to disk). */
  layerDone?(): void;
}

/** A source that answered: what it is, and how to get its content. */
export interface Resolved {
  /** The URI that answered (the primary, a mirror or a fallback tag). */
  uri: string;
  /** Known before any download: OCI manifest/index digest, or the gallery's sha256. */
  digest?: string;
  /** Bytes that will be downloaded, when known. */
  totalBytes: number | null;
  /** Digests of the layers it is made of (OCI): kept in the blob cache when disk is short for it. */
  blobs?: readonly string[];
  /** Version the content announces about itself (OCI annotation), if any. */
  version?: string;
  /** Download and extract into `ctx.staging`; returns the digest of what was fetched. */
  fetch(ctx: FetchContext): Promise<{ digest?: string }>;
}

export interface Source {
  /** The URI this source reads, for messages. */
  uri: string;
  resolve(signal: AbortSignal): Promise<Resolved>;
}
