import { posix } from "node:path";

type Job = (done: () => void) => void;

interface Waiter {
  job: Job;
  /** Each path it locks -> shared (a directory above one of its paths) or exclusive (its paths). */
  keys: Map<string, boolean>;
  running: boolean;
}

/** node-tar's key for a path: case and Unicode form folded, as a case-insensitive disk would. */
const key = (p: string): string =>
  posix.join(p).replace(/\/+$/, "").normalize("NFD").toLocaleLowerCase("en").toLocaleUpperCase("en") || "/";

/**
 * A drop-in for node-tar's path reservations (which entries of an archive may be written at the
 * same time), that forgets each entry once it is written. node-tar's own keeps every entry's
 * callback, and with it the entry, until the archive is done: about 3 KB per entry, 3 GB for a
 * million. Same rules: an entry waits for every earlier entry on its paths, and for earlier
 * entries on the directories above them unless those only pass through the same directories.
 */
export class PathLocks {
  private readonly queues = new Map<string, Waiter[]>();

  /** Entries waiting or being written (for tests: 0 once an archive is done). */
  get held(): number {
    return this.queues.size;
  }

  reserve(paths: string[], job: Job): boolean {
    const keys = new Map<string, boolean>();
    for (const p of paths) keys.set(key(p), false);
    for (const p of [...keys.keys()]) {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join("/") || "/";
        if (!keys.has(dir)) keys.set(dir, true);
      }
    }
    const w: Waiter = { job, keys, running: false };
    for (const k of keys.keys()) {
      const q = this.queues.get(k);
      if (q) q.push(w);
      else this.queues.set(k, [w]);
    }
    return this.start(w);
  }

  private ready(w: Waiter): boolean {
    for (const [k, shared] of w.keys) {
      const q = this.queues.get(k)!;
      if (q[0] === w) continue;
      if (!shared) return false;
      for (const other of q) {
        if (other === w) break;
        if (!other.keys.get(k)) return false;
      }
    }
    return true;
  }

  private start(w: Waiter): boolean {
    if (w.running || !this.ready(w)) return false;
    w.running = true;
    let released = false;
    w.job(() => {
      if (released) return;
      released = true;
      this.release(w);
    });
    return true;
  }

  private release(w: Waiter): void {
    const next = new Set<Waiter>();
    for (const k of w.keys.keys()) {
      const q = this.queues.get(k)!;
      q.splice(q.indexOf(w), 1);
      if (q.length === 0) {
        this.queues.delete(k);
        continue;
      }
      // The new head, and the shared waiters right behind a shared head, may be able to start.
      for (const other of q) {
        if (!other.running) next.add(other);
        if (!other.keys.get(k)) break;
      }
    }
    for (const other of next) this.start(other);
  }
}
