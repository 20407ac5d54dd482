/** Something keyed that can be superseded by a later value with the same slot. */
export interface Keyed {
  kind: string;
  key: string;
}

export interface CoalescerOptions {
  /** How long a first event waits for company before the batch is flushed (100–250 ms). */
  intervalMs: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

/**
 * Buffers events and hands them over in batches, keeping only the latest per (kind, key): a
 * thousand progress ticks of one op become one. At most one flush per interval, and none while idle,
 * so an event storm costs a bounded number of store updates (and so of renders).
 */
export class Coalescer<E extends Keyed> {
  private pending = new Map<string, E>();
  private timer: unknown = undefined;
  private received = 0;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;

  constructor(
    private readonly sink: (batch: E[], received: number) => void,
    private readonly opts: CoalescerOptions,
  ) {
    this.setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return t;
      });
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  push(e: E): void {
    const slot = `${e.kind}\u0000${e.key}`;
    // Re-insert so the batch keeps arrival order of the latest values.
    this.pending.delete(slot);
    this.pending.set(slot, e);
    this.received++;
    if (this.timer === undefined) this.timer = this.setTimer(() => this.flush(), this.opts.intervalMs);
  }

  /** Hand over what is buffered now (also called by the timer). */
  flush(): void {
    if (this.timer !== undefined) {
      this.clearTimer(this.timer);
      this.timer = undefined;
    }
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    const received = this.received;
    this.pending = new Map();
    this.received = 0;
    this.sink(batch, received);
  }

  get size(): number {
    return this.pending.size;
  }

  stop(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}
