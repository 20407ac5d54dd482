import { abortReason } from "./errors.js";

/**
 * One byte budget for the whole agent (`--rate-limit`): every chunk reserves its transmission
 * time, so concurrent downloads share the rate and a chunk waits only for its own slot.
 */
export class RateLimiter {
  private nextFree = 0;

  constructor(
    readonly bytesPerSec: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    if (!(bytesPerSec > 0)) throw new Error("rate limit must be positive");
  }

  /** Delay (ms) before `n` bytes may pass; reserves their slot. */
  reserve(n: number): number {
    const now = this.now();
    this.nextFree = Math.max(this.nextFree, now) + (n * 1000) / this.bytesPerSec;
    return Math.max(0, this.nextFree - now - (n * 1000) / this.bytesPerSec);
  }

  take = (n: number, signal?: AbortSignal): Promise<void> => {
    const delay = this.reserve(n);
    if (delay <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(t);
        reject(abortReason(signal!));
      };
      const t = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, delay);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  };
}
