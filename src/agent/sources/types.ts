import type { Logger } from "../../lib/log.js";
import type { RegistryClient } from "../../oci/registry-client.js";
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
}

export interface FetchContext {
  signal: AbortSignal;
  /** Empty, private directory the content is extracted into. */
  staging: string;
  onBytes(n: number): void;
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
