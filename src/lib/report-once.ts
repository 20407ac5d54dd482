/**
 * Remembers what has been reported so a loop that meets the same bad record on every pass says so
 * once. Bounded: past `max` entries the oldest is forgotten (and may be reported again).
 */
export class ReportOnce {
  private readonly seen = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** True the first time `id` is seen (report it then), false after. */
  first(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.max) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  /** `id` is fine again: a later problem is reported anew. */
  clear(id: string): void {
    this.seen.delete(id);
  }
}
