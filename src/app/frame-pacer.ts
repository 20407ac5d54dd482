export interface FramePacerOptions {
  /** Sustained cap on frames drawn per second. */
  maxFps: number;
  /**
   * Frames that may be drawn back to back before the cap applies: lets a key's frame follow a
   * data frame at once instead of waiting out the interval.
   */
  burst: number;
  now?: () => number;
}

/**
 * When to draw a frame. Data changes are drawn at most `maxFps` times a second and never closer
 * than one interval apart, however fast they come. A frame that answers a key is drawn as soon as
 * the budget (a token bucket of `burst` frames refilled at `maxFps`) allows, which is at once
 * unless keys arrive faster than the cap: a key is never kept waiting behind a data frame that was
 * drawn just before it.
 */
export class FramePacer {
  private readonly interval: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;
  private lastFrameAt = Number.NEGATIVE_INFINITY;
  private urgent = false;
  private urgentReset: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private draw: (() => void) | undefined;
  /** Frames drawn so far. */
  frames = 0;

  constructor(private readonly o: FramePacerOptions) {
    this.interval = 1000 / o.maxFps;
    this.now = o.now ?? (() => performance.now());
    this.tokens = o.burst;
    this.refilledAt = this.now();
  }

  /** Start drawing through `draw` (Ink's unthrottled render). */
  attach(draw: () => void): void {
    this.draw = draw;
  }

  detach(): void {
    this.draw = undefined;
    this.cancelTimer();
    if (this.urgentReset) clearImmediate(this.urgentReset);
    this.urgentReset = undefined;
    this.urgent = false;
  }

  /**
   * The next change answers a key. React commits a key's state change in a microtask, so the
   * mark lasts until the event loop moves on: a key that changed nothing leaves no mark behind.
   */
  expectInput(): void {
    this.urgent = true;
    if (this.urgentReset) return;
    this.urgentReset = setImmediate(() => {
      this.urgentReset = undefined;
      this.urgent = false;
    });
  }

  /** Something on screen changed: draw it within the budget. */
  request(): void {
    const now = this.now();
    this.refill(now);
    const tokenAt = this.tokens >= 1 ? now : now + (1 - this.tokens) * this.interval;
    const at = this.urgent ? tokenAt : Math.max(tokenAt, this.lastFrameAt + this.interval);
    if (at <= now) {
      this.frame(now);
      return;
    }
    if (at >= this.timerAt) return;
    this.cancelTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        const t = this.now();
        this.refill(t);
        this.frame(t);
      },
      Math.ceil(at - now),
    );
  }

  private frame(now: number): void {
    this.cancelTimer();
    this.tokens = Math.max(0, this.tokens - 1);
    this.lastFrameAt = now;
    this.urgent = false;
    this.frames++;
    this.draw?.();
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.o.burst, this.tokens + (now - this.refilledAt) / this.interval);
    this.refilledAt = now;
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
