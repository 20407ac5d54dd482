import { DigestMismatchError, type VerifiedStream } from "../../oci/verified-stream.js";
import { OpRefusedError, UnsafeArchiveError } from "../errors.js";
import { errorMessage } from "../../lib/log.js";
import { extractStream, type UnpackOptions } from "../extract.js";

/** Past this many unread bytes a broken archive is reported as is, without reading on for its digest. */
const DRAIN_LIMIT = 8 * 1024 * 1024;

/**
 * Extract a digest-checked stream. When the archive breaks (bad gzip data, a truncated tar), read
 * what is left of the stream first, if little: a digest mismatch is the truer explanation and the
 * one reported.
 */
export async function unpackVerified(
  stream: VerifiedStream,
  o: UnpackOptions,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const inner = stream.chunks;
  // Extraction gets a forwarding view, so abandoning it does not close the underlying stream.
  const view: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({ next: () => inner.next() }),
  };
  try {
    await extractStream(view, o);
  } catch (e) {
    if (
      e instanceof UnsafeArchiveError ||
      e instanceof OpRefusedError ||
      e instanceof DigestMismatchError ||
      signal.aborted
    ) {
      await inner.return(undefined).catch(() => {});
      throw e;
    }
    let left = 0;
    try {
      for (;;) {
        const r = await inner.next();
        if (r.done) break;
        left += r.value.byteLength;
        if (left > DRAIN_LIMIT) {
          await inner.return(undefined);
          break;
        }
      }
    } catch (e2) {
      if (e2 instanceof DigestMismatchError) throw e2;
    }
    const msg = errorMessage(e);
    throw new Error(msg.includes(what) ? msg : `${what}: ${msg}`, { cause: e });
  }
}
