import { errorMessage, type Logger } from "../lib/log.js";
import { backoffMs } from "./connection.js";
import { isTransientJetStream } from "./errors.js";

/**
 * Run a start-up step that needs JetStream, retrying with backoff for as long as it fails for a
 * reason time fixes (no stream leader yet, JetStream starting), saying what it waits for. Other
 * errors, and an abort, end it.
 */
export async function untilJetStream<T>(
  what: string,
  step: () => Promise<T>,
  o: { log: Logger; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (e) {
      if (o.signal?.aborted || !isTransientJetStream(e)) throw e;
      const retryInMs = backoffMs(attempt);
      o.log.warn(`waiting for JetStream: ${what}`, { reason: errorMessage(e), attempt, retryInMs });
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          o.signal?.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, retryInMs);
        o.signal?.addEventListener("abort", done, { once: true });
      });
      if (o.signal?.aborted) throw e;
    }
  }
}
