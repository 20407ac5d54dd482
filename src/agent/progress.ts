import { PROGRESS_MIN_INTERVAL_MS, type Phase, type ProgressEvent } from "../protocol/index.js";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ProgressOptions {
  opId: string;
  nodeId: string;
  backend: string;
  publish(e: ProgressEvent): void;
  clock?: Clock;
  intervalMs?: number;
  /** Window over which the rate is measured. */
  rateWindowMs?: number;
}

/**
 * Live progress of one op: bytes across all layers (monotonic, even when a source is retried from
 * zero), rate over a short window and ETA, published at most once per interval with the newest
 * numbers, plus one final event that also keeps that spacing.
 */
export class ProgressReporter {
  private done = 0;
  private attemptDone = 0;
  private total: number | null = null;
  private phaseValue: Phase = "resolving";
  private samples: Array<{ t: number; bytes: number }> = [];
  private lastSent = Number.NEGATIVE_INFINITY;
  private timer: unknown;
  private finished = false;
  private readonly clock: Clock;
  private readonly interval: number;
  private readonly window: number;

  constructor(private readonly o: ProgressOptions) {
    this.clock = o.clock ?? realClock;
    this.interval = o.intervalMs ?? PROGRESS_MIN_INTERVAL_MS;
    this.window = o.rateWindowMs ?? 3_000;
  }

  get bytesDone(): number {
    return this.done;
  }

  get phase(): Phase {
    return this.phaseValue;
  }

  setPhase(p: Phase): void {
    if (p === this.phaseValue) return;
    this.phaseValue = p;
    this.schedule();
  }

  setTotal(total: number | null): void {
    this.total = total;
    this.schedule();
  }

  /** A new attempt (another mirror) starts from byte 0; progress resumes once it passes the old mark. */
  newAttempt(): void {
    this.attemptDone = 0;
  }

  add(n: number): void {
    this.attemptDone += n;
    if (this.attemptDone <= this.done) return;
    this.done = this.attemptDone;
    const t = this.clock.now();
    this.samples.push({ t, bytes: this.done });
    while (this.samples.length > 2 && this.samples[0]!.t < t - this.window) this.samples.shift();
    this.schedule();
  }

  private rate(now: number): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last === first) return 0;
    const dt = (Math.max(now, last.t) - first.t) / 1000;
    return dt > 0 ? (last.bytes - first.bytes) / dt : 0;
  }

  snapshot(final = false): ProgressEvent {
    const at = this.clock.now();
    const bytesPerSec = final ? 0 : Math.max(0, this.rate(at));
    const remaining = this.total !== null ? Math.max(0, this.total - this.done) : null;
    return {
      v: 1,
      opId: this.o.opId,
      nodeId: this.o.nodeId,
      backend: this.o.backend,
      phase: this.phaseValue,
      bytesDone: this.done,
      bytesTotal: this.total,
      bytesPerSec,
      etaSec: remaining !== null && bytesPerSec > 0 ? remaining / bytesPerSec : remaining === 0 ? 0 : null,
      final,
      at,
    };
  }

  private send(final: boolean): void {
    this.lastSent = this.clock.now();
    this.o.publish(this.snapshot(final));
  }

  private schedule(): void {
    if (this.finished || this.timer !== undefined) return;
    const wait = this.lastSent + this.interval - this.clock.now();
    if (wait <= 0) {
      this.send(false);
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      // Timers may fire a millisecond early against the wall clock: never send too soon.
      if (!this.finished) this.schedule();
    }, wait);
  }

  /** Publish the final event (no sooner than one interval after the previous one). */
  finish(): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.finished = true;
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const wait = this.lastSent + this.interval - this.clock.now();
    if (wait <= 0) {
      this.send(true);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const fire = () => {
        const left = this.lastSent + this.interval - this.clock.now();
        if (left > 0) {
          this.clock.setTimeout(fire, left);
          return;
        }
        this.send(true);
        resolve();
      };
      this.clock.setTimeout(fire, wait);
    });
  }
}
