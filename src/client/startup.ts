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

/**
 * Run a step that writes to JetStream, again while it fails for a reason time fixes (a stream
 * electing a new leader after a server loss takes 4 to 9 s on 2.9), until `deadline` (epoch ms);
 * then, or for any other error, its error. The step must be safe to repeat.
 */
export async function whileTransient<T>(step: () => Promise<T>, deadline: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (e) {
      const wait = Math.min(1_000, 200 * 2 ** attempt);
      if (!isTransientJetStream(e) || Date.now() + wait >= deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
