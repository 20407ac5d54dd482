import { errorMessage } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";

/**
 * A duty's `start` runs on the event loop the lease renews on: one that takes longer than this
 * (a synchronous pass over the fleet) is logged, since a few of them lose the lease.
 */
const SLOW_START_MS = 100;

/** Work only the lease holder does (health, reaping, upgrade checks, ...). */
export interface LeaderDuty {
  /** For the logs. */
  readonly name: string;
  /** Begin; `term` numbers this replica's leaderships, 1 for the first. */
  start(term: number): void;
  /**
   * End: from the call on, the duty begins no new work. Settles once none of its work is in
   * flight; the next `start` may come before that and must not overlap it.
   */
  stop(): void | Promise<void>;
}

/**
 * The leader's duties, started in list order when this replica becomes leader and stopped in
 * reverse when it steps down. Starting and stopping are synchronous, so a term's duties are all
 * stopped before the next term's start; work still draining from the last term (a check stuck on
 * a registry) does not hold up the next one, nor a shutdown. A duty that fails to start or stop
 * is logged and the others carry on.
 */
export class LeaderDuties {
  private term = 0;
  private leading = false;
  private started: LeaderDuty[] = [];

  constructor(
    private readonly duties: readonly LeaderDuty[],
    private readonly t: Telemetry,
  ) {}

  /**
   * Follow the lease: start on `true`, stop on `false`. The promise settles once a stop's work in
   * flight has drained (at once for a start or a repeated state).
   */
  follow(leader: boolean): Promise<void> {
    if (leader === this.leading) return Promise.resolve();
    this.leading = leader;
    if (leader) {
      this.startAll(++this.term);
      return Promise.resolve();
    }
    return this.stopAll();
  }

  private startAll(term: number): void {
    this.t.log.debug("starting leader duties", { term, duties: this.duties.map((d) => d.name) });
    for (const d of this.duties) {
      const began = performance.now();
      try {
        d.start(term);
        this.started.push(d);
        const ms = Math.round(performance.now() - began);
        if (ms > SLOW_START_MS) this.t.log.warn("leader duty was slow to start", { duty: d.name, term, ms });
      } catch (e) {
        this.t.log.error("leader duty failed to start", { duty: d.name, term, error: errorMessage(e) });
      }
    }
  }

  private async stopAll(): Promise<void> {
    const draining = this.started
      .splice(0)
      .reverse()
      .map(async (d) => {
        try {
          await d.stop();
        } catch (e) {
          this.t.log.warn("leader duty failed to stop", { duty: d.name, error: errorMessage(e) });
        }
      });
    await Promise.all(draining);
  }
}
