import { abortReason } from "./errors.js";

type Release = () => void;

interface Waiter {
  /** Undefined until the names are known: the waiter holds its place, and everyone behind it waits. */
  names?: string[];
  grant: (release: Release) => void;
}

/**
 * One lock per backend name. An op takes every name it touches at once (a meta and its concrete
 * together), so two ops sharing any name run one after the other, in arrival order, and ops on
 * different names run side by side. The names may come later than the call (they are looked up):
 * the place in the queue is taken at the call, so a later op whose names are known sooner does
 * not jump ahead.
 */
export class NameLocks {
  private readonly held = new Set<string>();
  private readonly queue: Waiter[] = [];

  acquire(names: string[] | Promise<string[]>, signal?: AbortSignal): Promise<Release> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const leave = (why: unknown) => {
        const i = this.queue.indexOf(waiter);
        if (i < 0) return;
        this.queue.splice(i, 1);
        signal?.removeEventListener("abort", onAbort);
        reject(why);
        // Those queued behind it may go now.
        this.pump();
      };
      const onAbort = () => leave(abortReason(signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(waiter);
      void Promise.resolve(names).then((known) => {
        if (!this.queue.includes(waiter)) return;
        waiter.names = [...new Set(known)].sort();
        this.pump();
      }, leave);
    });
  }

  has(name: string): boolean {
    return this.held.has(name);
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
      const names = w.names;
      if (!names) return; // which names it wants is not known yet: nobody behind it may pass
      const free = names.every((n) => !this.held.has(n) && !claimed.has(n));
      if (free) {
        this.queue.splice(i, 1);
        for (const n of names) this.held.add(n);
        let released = false;
        w.grant(() => {
          if (released) return;
          released = true;
          for (const n of names) this.held.delete(n);
          this.pump();
        });
      } else {
        for (const n of names) claimed.add(n);
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
