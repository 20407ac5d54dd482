import { isCasConflict, type ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import { CONTROLLER_LEASE_KEY, SCHEMA_VERSION } from "../protocol/index.js";

export interface LeaseOptions {
  /** Who we are (replica id), written into the lease. */
  holder: string;
  key?: string;
  telemetry: Telemetry;
}

/**
 * Leader election on the TTL'd `leases` bucket (ops-anchors §2.3): acquire with `create`, renew
 * with a compare-and-set `update` every third of the TTL, step down on any failure or when a
 * renewal is overdue. nats-server 2.9 writes no marker when the TTL expires a key, so followers
 * retry `create` on a jittered timer. A graceful stop deletes the key so a follower takes over
 * at its next try instead of after the TTL.
 */
export class LeaderLease {
  private revision = 0;
  private leading = false;
  private leaderUntil = 0;
  private since = 0;
  private ttlMs = 0;
  /** Counts the terms this replica won; a renewal belongs to the term it started in. */
  private term = 0;
  private timer?: NodeJS.Timeout;
  private expiry?: NodeJS.Timeout;
  private stopped = true;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private readonly log: Logger;
  readonly key: string;

  constructor(
    private readonly client: ClusterClient,
    private readonly opts: LeaseOptions,
  ) {
    this.key = opts.key ?? CONTROLLER_LEASE_KEY;
    this.log = opts.telemetry.log;
  }

  /** True while we hold an unexpired lease. */
  isLeader(): boolean {
    return this.leading && Date.now() < this.leaderUntil;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.ttlMs = (await this.client.bucket("leases").status()).ttl;
    if (!this.ttlMs) throw new Error("the leases bucket has no TTL; leader election needs one");
    await this.contend();
  }

  private schedule(ms: number, fn: () => Promise<void>): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void fn(), ms);
  }

  private lease(renewedAt: number) {
    return { v: SCHEMA_VERSION, holder: this.opts.holder, since: this.since, renewedAt };
  }

  private async contend(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    this.since = now;
    try {
      this.revision = await this.client.create("leases", this.key, this.lease(now));
      this.became(true, now);
      this.schedule(this.ttlMs / 3, () => this.renew());
    } catch (e) {
      if (!isCasConflict(e)) {
        this.log.warn("lease: cannot contend", { error: errorMessage(e) });
      }
      // Jittered retry: an expired lease is taken over within a quarter TTL of expiring.
      this.schedule(this.ttlMs / 8 + Math.random() * (this.ttlMs / 8), () => this.contend());
    }
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.leading) return;
    const now = Date.now();
    // An update can answer after the renewal was overdue and this replica stepped down (a
    // blocked event loop, a slow server): by then a contend retry is scheduled, or a new term won.
    // Acting on the late answer would cancel that retry (leaving it contending for nothing, ever)
    // or step down from the new term.
    const term = this.term;
    const late = () => this.stopped || !this.leading || term !== this.term;
    try {
      const revision = await this.client.update("leases", this.key, this.lease(now), this.revision);
      if (late()) {
        // The late renewal still made the key ours: release it so the pending contend (here or
        // on another replica) wins at its next try instead of after a whole TTL of nobody leading.
        if (!this.leading) await this.client.delete("leases", this.key, revision).catch(() => {});
        return;
      }
      this.revision = revision;
      this.leaderUntil = now + this.ttlMs * 0.8;
      this.armExpiry();
      this.schedule(this.ttlMs / 3, () => this.renew());
    } catch (e) {
      if (late()) return;
      this.log.warn("lease: renewal failed, stepping down", { error: errorMessage(e) });
      this.became(false);
      this.schedule(0, () => this.contend());
    }
  }

  private armExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = setTimeout(
      () => {
        if (this.leading && Date.now() >= this.leaderUntil) {
          this.log.warn("lease: renewal overdue, stepping down");
          this.became(false);
          this.schedule(0, () => this.contend());
        }
      },
      Math.max(0, this.leaderUntil - Date.now()) + 5,
    );
  }

  private became(leader: boolean, at = Date.now()): void {
    if (leader) {
      this.leaderUntil = at + this.ttlMs * 0.8;
      this.armExpiry();
    } else clearTimeout(this.expiry);
    if (leader === this.leading) return;
    this.leading = leader;
    if (leader) this.term++;
    this.log.info(leader ? "became leader" : "no longer leader", { holder: this.opts.holder });
    for (const l of this.listeners) {
      try {
        l(leader);
      } catch (e) {
        this.log.error("lease listener failed", { error: errorMessage(e) });
      }
    }
  }

  /** Stop contending; a leader releases the lease unless `release` is false (a simulated crash). */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const wasLeader = this.leading;
    this.became(false);
    if (wasLeader && release) {
      await this.client.delete("leases", this.key, this.revision).catch(() => {});
    }
  }
}
