/**
 * At most one run of `fn` at a time. `run` joins the run in flight (its caller's arguments are
 * the ones used); `runFresh` gets a run that starts no earlier than the call: at once when idle,
 * otherwise one run after the current, shared by every caller that asks before it starts.
 */
export class SingleFlight<T, A extends unknown[] = []> {
  private current?: Promise<T>;
  private queued?: Promise<T>;

  constructor(private readonly fn: (...args: A) => Promise<T>) {}

  /** The run in flight, if any. */
  get inFlight(): Promise<T> | undefined {
    return this.current;
  }

  run(...args: A): Promise<T> {
    if (this.current) return this.current;
    // Called synchronously (as a plain call would be); a synchronous throw becomes a rejection.
    const p = (async () => this.fn(...args))().finally(() => {
      if (this.current === p) this.current = undefined;
    });
    this.current = p;
    return p;
  }

  runFresh(...args: A): Promise<T> {
    if (!this.current) return this.run(...args);
    this.queued ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run(...args);
      });
    return this.queued;
  }
}
