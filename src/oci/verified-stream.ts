import { createHash } from "node:crypto";
import { RegistryConnectError } from "./registry-client.js";
import { formatBytes, seconds } from "../lib/human.js";
import { sleep } from "../lib/sleep.js";
import { RetryAfterBudget, type RetryAfterLimits } from "./retry-after.js";

/** The bytes did not hash to what the source promised: the content is refused. */
export class DigestMismatchError extends Error {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${what}: digest mismatch (expected ${expected}, got ${actual})`);
    this.name = "DigestMismatchError";
  }
}

/** The byte count differs from the descriptor or crossed a cap. */
export class SizeMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SizeMismatchError";
  }
}

/** A failure worth retrying (dropped connection, 5xx, 429) as opposed to a refusal. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "TransientError";
  }
}

/** An attempt that received no byte for `stallMs`: ended (then resumed) instead of waiting on. */
export class StallError extends TransientError {
  constructor(
    readonly source: string,
    readonly what: string,
    readonly stallMs: number,
    readonly got: number,
    readonly size: number | undefined,
  ) {
    const of = size !== undefined ? ` of ${formatBytes(size)}` : "";
    super(`${source} sent no byte for ${seconds(stallMs)} while fetching ${what} (${formatBytes(got)}${of})`);
    this.name = "StallError";
  }
}

export interface OpenedBody {
  body: AsyncIterable<Uint8Array>;
  /** Offset of the first byte of `body`: `from` when the server honoured Range, 0 when it did not. */
  start: number;
}

/**
 * The bytes of `opened` from byte `at` of the resource on. A server that ignored Range (a 200 from
 * byte 0) or answered from an earlier offset has what comes before `at` dropped; one that answers
 * from past `at` is refused (bytes would be missing), and a body that ends before reaching `at`
 * is a dropped connection (TransientError). `onChunk` is told of every chunk received, skipped
 * ones too (a stall timer).
 */
export async function* skipTo(
  opened: OpenedBody,
  at: number,
  what: string,
  onChunk?: () => void,
): AsyncGenerator<Uint8Array, void, undefined> {
  let skip = at - opened.start;
  if (skip < 0) throw new Error(`${what}: server resumed at ${opened.start}, past byte ${at}`);
  for await (const raw of opened.body) {
    onChunk?.();
    if (skip === 0) {
      yield raw;
    } else if (raw.byteLength <= skip) {
      skip -= raw.byteLength;
    } else {
      yield raw.subarray(skip);
      skip = 0;
    }
  }
  if (skip > 0) throw new TransientError(`${what}: connection closed before byte ${at}`);
}

export interface VerifiedStreamOptions {
  /** What is being downloaded, for error messages. */
  what: string;
  /** Open the resource at byte `from` (a Range request when from > 0). */
  open(from: number, signal: AbortSignal): Promise<OpenedBody>;
  expectedSize?: number;
  /** `sha256:<hex>`; when absent the digest is only computed. */
  expectedDigest?: string;
  /** Refuse more than this many bytes when the size is unknown. */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Resume attempts after a dropped connection or a retryable status. */
  retries?: number;
  /** Abort an attempt that delivers no byte for this long (then resume). */
  stallMs?: number;
  /** Who sends the bytes, for messages: `registry 127.0.0.1:5000`, `example.com`. */
  source?: string;
  /** Bounds on the waits a Retry-After asks for (they do not count against `retries`). */
  retryAfter?: RetryAfterLimits;
  onBytes?(n: number): void;
  /** Wait before passing on `n` bytes (rate limiting). */
  throttle?(n: number, signal: AbortSignal): Promise<void>;
  onRetry?(info: { from: number; attempt: number; error: string }): void;
}

export interface VerifiedStream {
  /** The verified bytes; errors instead of ending when the size or digest is wrong. */
  chunks: AsyncGenerator<Uint8Array, void, undefined>;
  /** Available once `chunks` has ended cleanly. */
  result(): { digest: string; size: number };
}

/**
 * Stream a resource while hashing it, resuming with Range after a dropped connection (the hash
 * simply continues), and fail at the end, instead of ending, when the size or digest is wrong.
 * A server that ignores Range gets its first bytes skipped, so the consumer never sees a byte twice.
 */
export function verifiedStream(o: VerifiedStreamOptions): VerifiedStream {
  const hash = createHash("sha256");
  let got = 0;
  let final: { digest: string; size: number } | undefined;
  const retries = o.retries ?? 4;
  const limit = o.expectedSize ?? o.maxBytes ?? Number.MAX_SAFE_INTEGER;

  async function* run(): AsyncGenerator<Uint8Array, void, undefined> {
    // Only attempts that made no progress count against `retries`; a link that keeps dropping
    // but keeps moving forward is followed to the end (within a generous cap).
    let failures = 0;
    let attempts = 0;
    let lastFailureAt = -1;
    const budget = new RetryAfterBudget(o.retryAfter);
    for (;;) {
      if (o.signal?.aborted) throw o.signal.reason;
      const attempt = new AbortController();
      const signal = o.signal ? AbortSignal.any([o.signal, attempt.signal]) : attempt.signal;
      let stall: NodeJS.Timeout | undefined;
      const arm = () => {
        if (!o.stallMs) return;
        clearTimeout(stall);
        const ms = o.stallMs;
        stall = setTimeout(
          () => attempt.abort(new StallError(o.source ?? "the server", o.what, ms, got, o.expectedSize)),
          ms,
        );
      };
      try {
        arm();
        const opened = await o.open(got, signal);
        for await (const chunk of skipTo(opened, got, o.what, arm)) {
          if (got + chunk.byteLength > limit) {
            throw new SizeMismatchError(
              o.expectedSize !== undefined
                ? `${o.what}: more than the ${o.expectedSize} bytes announced`
                : `${o.what}: larger than the ${limit}-byte limit`,
            );
          }
          if (o.throttle) await o.throttle(chunk.byteLength, signal);
          hash.update(chunk);
          got += chunk.byteLength;
          o.onBytes?.(chunk.byteLength);
          yield chunk;
        }
        clearTimeout(stall);
        if (o.expectedSize !== undefined && got < o.expectedSize) {
          // A body that ends early without an error is a dropped connection too.
          throw new TransientError(`${o.what}: got ${got} of ${o.expectedSize} bytes`);
        }
        break;
      } catch (caught) {
        clearTimeout(stall);
        if (o.signal?.aborted) throw o.signal.reason;
        // An attempt we aborted ourselves (stall) fails with the reason we gave, not AbortError.
        const e: unknown = attempt.signal.aborted ? attempt.signal.reason : caught;
        if (!isRetryable(e)) throw e;
        if (e instanceof TransientError && e.retryAfterMs !== undefined) {
          // The server said when to come back: wait that long (bounded), not a failure of the link.
          const wait = budget.take(e.retryAfterMs, `${o.source ?? "the server"} (${o.what})`);
          o.onRetry?.({ from: got, attempt: failures, error: describe(e) });
          await sleep(wait, o.signal);
          continue;
        }
        if (got > lastFailureAt) failures = 0;
        lastFailureAt = got;
        if (failures >= retries || ++attempts > retries * 10) {
          const why =
            e instanceof StallError
              ? `${e.message}; gave up after ${attempts + 1} attempts`
              : `${o.what}: download failed after ${attempts + 1} attempts (${describe(e)})`;
          throw new Error(why, { cause: e });
        }
        failures++;
        o.onRetry?.({ from: got, attempt: failures, error: describe(e) });
        await sleep(Math.min(2_000, 100 * 2 ** failures), o.signal);
      }
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (o.expectedDigest && digest !== o.expectedDigest) {
      throw new DigestMismatchError(o.what, o.expectedDigest, digest);
    }
    final = { digest, size: got };
  }

  return {
    chunks: run(),
    result() {
      if (!final) throw new Error(`${o.what}: not fully read yet`);
      return final;
    },
  };
}

/** An error with its cause (fetch hides the socket error in `cause`). */
function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: { message?: string } }).cause?.message;
  return cause && !msg.includes(cause) ? `${msg}: ${cause}` : msg;
}

/** Dropped connections, stalls and server-side trouble are retried; refusals and bad bytes are not. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof TransientError || e instanceof RegistryConnectError) return true;
  if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) return false;
  const status = (e as { status?: number }).status;
  if (typeof status === "number") return status >= 500 || status === 429 || status === 408;
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  const text = `${err.name ?? ""} ${err.message ?? ""} ${err.code ?? ""} ${err.cause?.code ?? ""}`;
  return /terminated|aborted|socket|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|other side closed|fetch failed|UND_ERR|premature close/i.test(
    text,
  );
}
