/** `Limiter.run` refused: `maxQueued` calls are already waiting. */
export class LimiterFullError extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} calls waiting`);
    this.name = "LimiterFullError";
  }
}

/**
 * At most `limit` calls in flight; the rest wait in arrival order, at most `maxQueued` of them
 * (a call beyond that is refused at once rather than held without bound).
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly limit: number,
    readonly maxQueued: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxQueued) throw new LimiterFullError(this.maxQueued);
      await new Promise<void>((r) => this.waiting.push(r));
    } else this.active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next caller, or give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
