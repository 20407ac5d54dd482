import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { AuthorizationError, RequestError, TimeoutError } from "@nats-io/transport-node";

/**
 * The JetStream API error codes we act on (`err_code` of an API error, from nats-server's
 * errors.json). The server's descriptions change between releases; these numbers do not.
 */
export const JsErrorCode = {
  ...JetStreamApiCodes,
  /** "stream name already in use with a different configuration": another replica created it. */
  StreamNameInUse: 10058,
  /** "insufficient storage resources available": a stream's max_bytes is reserved up front. */
  StorageResourcesExceeded: 10047,
} as const;

/** The JetStream API error code of `e` or of an error in its cause chain, if it has one. */
export function jsErrorCode(e: unknown): number | undefined {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof JetStreamApiError) return cur.code;
  }
  return undefined;
}

function hasCode(e: unknown, ...codes: number[]): boolean {
  const code = jsErrorCode(e);
  return code !== undefined && codes.includes(code);
}

/** A compare-and-set write lost: the revision moved on (update) or the key exists (create). */
export function isCasConflict(e: unknown): boolean {
  return hasCode(e, JsErrorCode.StreamWrongLastSequence, JsErrorCode.StreamWrongLastSequenceUnknown);
}

/** The stream (or the KV bucket behind it) does not exist. */
export function isStreamNotFound(e: unknown): boolean {
  return hasCode(e, JsErrorCode.StreamNotFound);
}

/** A direct message get found nothing at or after the sequence asked for. */
export function isNoMessageFound(e: unknown): boolean {
  return hasCode(e, JsErrorCode.NoMessageFound);
}

/** Creating a stream lost the race to another creator (same name, other configuration). */
export function isStreamNameInUse(e: unknown): boolean {
  return hasCode(e, JsErrorCode.StreamNameInUse);
}

/** The server cannot reserve the storage a stream asks for. */
export function isStorageExceeded(e: unknown): boolean {
  return hasCode(e, JsErrorCode.StorageResourcesExceeded);
}

/** A request nobody subscribes to (the server answered "no responders" at once). */
export function isNoResponders(e: unknown): boolean {
  return e instanceof RequestError && e.isNoResponders();
}

/**
 * JetStream errors that time fixes: JetStream or a stream without a leader yet (a cluster just
 * started, a server restarting, an election under way). nats.js reports a JetStream API request
 * nobody answers as "jetstream is not enabled", so that counts too.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  10004, // cluster incomplete results
  10005, // no peers available (yet)
  10008, // JetStream system temporarily unavailable
  10009, // cluster cannot handle the request (no leader)
  10039, // JetStream not enabled for the account (yet)
  10076, // JetStream not enabled (yet)
  10118, // stream is offline
  10119, // consumer is offline
]);

export function isTransientJetStream(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur.name === "JetStreamNotEnabled") return true;
    if (cur instanceof JetStreamApiError && TRANSIENT_CODES.has(cur.code)) return true;
    if (isNoResponders(cur) || isRequestTimeout(cur)) return true;
    const status = (cur as { code?: unknown }).code;
    if (cur.name === "JetStreamStatusError" && (status === 503 || status === 408)) return true;
  }
  return false;
}

/** A request that got no reply in time. */
export function isRequestTimeout(e: unknown): boolean {
  return e instanceof TimeoutError || (e instanceof RequestError && e.cause instanceof TimeoutError);
}

/**
 * Why a connection could not be made, as far as waiting is concerned: `refused` (nothing listens
 * there yet), `credentials` (the server said no), `no-jetstream` (the server runs without it),
 * `local` (a file we were told to read cannot be read), `other` (timeouts, DNS, TLS...).
 */
export type ConnectProblem = "refused" | "credentials" | "no-jetstream" | "local" | "other";

export function connectProblem(e: unknown): ConnectProblem {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof AuthorizationError) return "credentials";
    // not exported by @nats-io/jetstream; its name is its contract
    if (cur.name === "JetStreamNotEnabled") return "no-jetstream";
    const { code, syscall } = cur as { code?: string; syscall?: string };
    if (code === "ECONNREFUSED") return "refused";
    if (syscall === "open" || code === "ENOENT" || code === "EACCES") return "local";
  }
  return "other";
}

/**
 * A KV value that does not validate against its bucket's schema (a buggy writer, a manual
 * `nats kv put`). `revision` lets the key's owner overwrite it with compare-and-set.
 */
export class MalformedRecordError extends Error {
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly revision: number,
    readonly reason: string,
  ) {
    super(`${bucket}/${key} is unreadable: ${reason}`);
    this.name = "MalformedRecordError";
  }
}
