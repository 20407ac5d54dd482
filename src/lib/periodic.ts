/** Why a periodic task runs: its first run at `start`, the timer, or `runNow`. */
export type PeriodicReason = "start" | "timer" | "now";

export interface PeriodicOptions {
  /** The pause between the end of one run and the start of the next; a function is read each time. */
  intervalMs: number | (() => number);
  run: (why: PeriodicReason) => Promise<unknown>;
  /** A run that throws is reported here; the schedule carries on. */
  onError?: (e: unknown) => void;
}

/**
 * Work repeated every interval, never overlapping itself: the countdown to the next run starts
 * when the last one ends, and there is one countdown at most, so a run left over from before a
 * stop and start cannot begin a second chain. `stop` cancels the countdown and waits for a run
 * in flight.
 */
export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private active = false;
  /** Started with `now` while a run from before was still in flight: run again when it ends. */
  private startPending = false;

  constructor(private readonly o: PeriodicOptions) {}

  get isActive(): boolean {
    return this.active;
  }

  /** Begin: the first run now (`now: true`) or after one interval. Does nothing when active. */
  start(o: { now?: boolean } = {}): void {
    if (this.active) return;
    this.active = true;
    if (!o.now) this.arm();
    else if (this.running) this.startPending = true;
    else void this.runNow("start");
  }

  /**
   * Run at once and restart the countdown after it. While a run is in flight this is that run:
   * runs never overlap. Runs even when stopped (an explicit request), but arms nothing then.
   */
  runNow(why: PeriodicReason = "now"): Promise<void> {
    if (this.running) return this.running;
    clearTimeout(this.timer);
    const run = (async () => this.o.run(why))()
      .then(
        () => {},
        (e: unknown) => this.o.onError?.(e),
      )
      .finally(() => {
        this.running = undefined;
        if (!this.active) return;
        if (this.startPending) {
          this.startPending = false;
          void this.runNow("start");
        } else this.arm();
      });
    this.running = run;
    return run;
  }

  /**
   * Start the countdown again from now (work done out of band, or the interval changed). While a
   * run is in flight the countdown starts when it ends anyway.
   */
  restart(): void {
    if (!this.running) this.arm();
  }

  /** Cancel the countdown and wait for a run in flight to end. */
  async stop(): Promise<void> {
    this.active = false;
    this.startPending = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.active) return;
    const ms = typeof this.o.intervalMs === "function" ? this.o.intervalMs() : this.o.intervalMs;
    this.timer = setTimeout(() => void this.runNow("timer"), ms);
  }
}
