import { abortReason } from "./errors.js";

type Release = () => void;

interface Waiter {
  names: string[];
  grant: (release: Release) => void;
}

/**
 * One lock per backend name. An op takes every name it touches at once (a meta and its concrete
 * together), so two ops sharing any name run one after the other, in arrival order, and ops on
 * different names run side by side.
 */
export class NameLocks {
  private readonly held = new Set<string>();
  private readonly queue: Waiter[] = [];

  acquire(names: string[], signal?: AbortSignal): Promise<Release> {
    const set = [...new Set(names)].sort();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const waiter: Waiter = {
        names: set,
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortReason(signal!));
        // Those queued behind it for a shared name may go now.
        this.pump();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** Names currently locked (for tests and the heartbeat). */
  get locked(): string[] {
    return [...this.held].sort();
  }

  private pump(): void {
    // Arrival order: a waiter may start only if no earlier waiter wants one of its names.
    const claimed = new Set<string>();
    for (let i = 0; i < this.queue.length;) {
      const w = this.queue[i]!;
      const free = w.names.every((n) => !this.held.has(n) && !claimed.has(n));
      if (free) {
        this.queue.splice(i, 1);
        for (const n of w.names) this.held.add(n);
        let released = false;
        w.grant(() => {
          if (released) return;
          released = true;
          for (const n of w.names) this.held.delete(n);
          this.pump();
        });
      } else {
        for (const n of w.names) claimed.add(n);
        i++;
      }
    }
  }
}

/** At most `size` holders at once (`--max-parallel`), first come first served. */
export class Slots {
  private used = 0;
  private readonly queue: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new Error("max-parallel must be at least 1");
  }

  get inUse(): number {
    return this.used;
  }

  acquire(signal?: AbortSignal): Promise<Release> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.used--;
        const next = this.queue.shift();
        next?.();
      };
      const start = () => {
        signal?.removeEventListener("abort", onAbort);
        this.used++;
        resolve(release);
      };
      const onAbort = () => {
        const i = this.queue.indexOf(start);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortReason(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.used < this.size) start();
      else this.queue.push(start);
    });
  }
}
