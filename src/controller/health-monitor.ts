import type { ClusterClient, Entry, Unsubscribe } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { Periodic } from "../lib/periodic.js";
import type { Telemetry } from "../lib/telemetry.js";
import type { Heartbeat, NodeRecord } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import type { LeaderDuty } from "./duties.js";
import {
  healthTick,
  heartbeatWrite,
  recordRefreshMs,
  StallGuard,
  type HealthRules,
} from "./decide/health.js";
import { isCasConflict, MalformedRecordError } from "../client/index.js";
import type { ClusterView } from "./view.js";

export interface HealthMonitorDeps {
  client: ClusterClient;
  view: ClusterView;
  audit: Audit;
  rules: HealthRules;
  tickMs: number;
  telemetry: Telemetry;
}

/**
 * Leader only: turns heartbeats into node records and ages silent nodes. Each node's writes are
 * serialised (a newer heartbeat replaces one still waiting) and compare-and-set, so an admin's
 * drain written by another replica in between is re-read, never overwritten.
 *
 * A heartbeat that changes nothing but the time is not written (decide/health.ts:
 * heartbeatWrite): the record's heartbeat time is refreshed every recordRefreshMs only, so
 * silence is judged from when this leader heard each node (`heard`), not from the record.
 */
export class HealthMonitor implements LeaderDuty {
  readonly name = "health-monitor";
  private unsubscribe?: Unsubscribe;
  private readonly ticks: Periodic;
  private readonly known = new Map<string, Entry<NodeRecord>>();
  private readonly waiting = new Map<string, Heartbeat>();
  private readonly busy = new Set<string>();
  /** When this leader last heard each node (its own clock). */
  private readonly heard = new Map<string, number>();
  private startedAt = 0;
  private readonly drains = new Set<Promise<void>>();
  private active = false;
  private readonly log: Logger;
  private readonly stall: StallGuard;

  constructor(private readonly d: HealthMonitorDeps) {
    this.log = d.telemetry.log;
    this.stall = new StallGuard(d.tickMs, d.rules);
    this.ticks = new Periodic({
      intervalMs: d.tickMs,
      run: () => this.tick(),
      onError: (e) => this.log.warn("health tick failed", { error: errorMessage(e) }),
    });
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.known.clear();
    this.heard.clear();
    this.startedAt = Date.now();
    // A new leader has read no heartbeats yet: the records' ages say nothing until it has.
    this.stall.hold(this.startedAt);
    this.unsubscribe = this.d.client.onHeartbeat((hb) => this.onHeartbeat(hb));
    this.ticks.start();
  }

  async stop(): Promise<void> {
    this.active = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.waiting.clear();
    await Promise.all([this.ticks.stop(), ...this.drains]);
  }

  /** The freshest copy we have: our own last write or the watch's, whichever is newer. */
  private current(id: string): Entry<NodeRecord> | undefined {
    const a = this.known.get(id);
    const b = this.d.view.nodes.get(id);
    if (!a) return b;
    if (!b) return a;
    return a.revision >= b.revision ? a : b;
  }

  /**
   * When this leader last heard the node. One it has not heard since it took over spoke last no
   * later than its record's refresh deadline and no later than the take-over (a live node had
   * its record refreshed at least that often), so it is never judged silent for longer than it
   * was; a dead one is judged at most recordRefreshMs late.
   */
  private heardAt(id: string, rec: NodeRecord): number {
    // healthTick takes the later of this and the record's own time.
    return (
      this.heard.get(id) ?? Math.min(rec.lastHeartbeatAt + recordRefreshMs(this.d.rules), this.startedAt)
    );
  }

  private onHeartbeat(hb: Heartbeat): void {
    if (!this.active) return;
    const id = hb.nodeId;
    const now = Date.now();
    this.heard.set(id, now);
    // Most heartbeats end here: nothing to write (checked without a promise or a copy). A node
    // the view does not hold (not mirrored yet, unreadable, deleted) takes the careful path.
    if (!this.busy.has(id) && this.d.view.nodes.has(id)) {
      const prev = this.current(id)?.value;
      if (prev && heartbeatWrite(prev, hb, now, this.d.rules) === null) return;
    }
    this.waiting.set(id, hb);
    if (this.busy.has(id)) return;
    const drain = this.drain(id).finally(() => this.drains.delete(drain));
    this.drains.add(drain);
  }

  private async drain(id: string): Promise<void> {
    this.busy.add(id);
    try {
      for (let hb = this.waiting.get(id); hb && this.active; hb = this.waiting.get(id)) {
        this.waiting.delete(id);
        await this.write(id, (prev, now) => heartbeatWrite(prev, hb, now, this.d.rules)).catch((e) =>
          this.log.warn("heartbeat not recorded", { nodeId: id, error: errorMessage(e) }),
        );
      }
    } finally {
      this.busy.delete(id);
    }
  }

  /**
   * CAS write of one node record; `decide` is re-run on a fresh read after a conflict. A
   * malformed record is decided on as no record (a heartbeat writes a fresh one over it).
   */
  private async write(
    id: string,
    decide: (prev: NodeRecord | undefined, now: number) => NodeRecord | null,
  ): Promise<void> {
    let cur: { value?: NodeRecord; revision: number } | undefined = this.current(id);
    const bad = this.d.view.unreadable.nodes.get(id);
    if (bad && (!cur || bad.revision > cur.revision)) cur = { revision: bad.revision };
    for (let attempt = 0; attempt < 10 && this.active; attempt++) {
      const now = Date.now();
      const next = decide(cur?.value, now);
      if (!next) return;
      try {
        const revision = cur
          ? await this.d.client.update("nodes", id, next, cur.revision)
          : await this.d.client.create("nodes", id, next);
        this.known.set(id, { value: next, revision });
        if (cur && !cur.value) this.log.warn("node record was unreadable; rewritten", { nodeId: id });
        if (!cur?.value || cur.value.status !== next.status) {
          void this.d.audit.post("node.status", {
            actor: "health-monitor",
            nodeId: id,
            message: `${cur ? (cur.value?.status ?? "unreadable") : "new"} -> ${next.status}: ${next.statusReason ?? ""}`,
          });
        }
        return;
      } catch (e) {
        if (!isCasConflict(e)) throw e;
        cur = await this.d.client.get("nodes", id).then(
          (fresh) => fresh ?? undefined,
          (r: unknown) => {
            if (!(r instanceof MalformedRecordError)) throw r;
            this.d.client.reportMalformed("nodes", id, r.revision, r.reason);
            return { revision: r.revision };
          },
        );
      }
    }
  }

  /** Note that the monitor is running now; false while it may not judge silence (after a stall). */
  private mayJudge(): boolean {
    const now = Date.now();
    const stalled = this.stall.observe(now);
    if (stalled) {
      this.log.warn("health monitor was stalled; holding node status changes for one heartbeat interval", {
        stalledMs: stalled.stalledMs,
      });
    }
    return this.stall.mayJudge(now);
  }

  /** One pass over every node: unhealthy after missed heartbeats, offline after long silence. */
  async tick(): Promise<void> {
    try {
      await this.pass();
    } finally {
      // The gap to the next tick is measured from here: a long pass is not a stall.
      this.stall.observe(Date.now());
    }
  }

  /**
   * O(fleet) per tick, on purpose: a comparison per node (10,000 nodes: well under a millisecond
   * a second), and silence is exactly what no event announces.
   */
  private async pass(): Promise<void> {
    if (!this.mayJudge()) return;
    const now = Date.now();
    for (const id of this.d.view.nodes.keys()) {
      if (!this.active) return;
      if (this.due(id, now)) await this.judge(id);
    }
    for (const id of this.known.keys()) {
      if (!this.active) return;
      if (!this.d.view.nodes.has(id) && this.due(id, now)) await this.judge(id);
    }
  }

  /** Whether silence changes the node's status at `now` (no promise: most nodes are not due). */
  private due(id: string, now: number): boolean {
    const cur = this.current(id);
    return !!cur && !!healthTick(cur.value, now, this.d.rules, this.heardAt(id, cur.value));
  }

  /** Writes the status silence gives the node, decided again on the record being replaced. */
  private async judge(id: string): Promise<void> {
    await this.write(id, (prev, now) => {
      if (!prev) return null;
      // Checked at the write: a stall during this pass holds it too.
      if (!this.mayJudge()) return null;
      const change = healthTick(prev, now, this.d.rules, this.heardAt(id, prev));
      return change
        ? {
            ...prev,
            status: change.status,
            statusReason: change.reason,
            statusSince: now,
            // What was heard, never the estimate for an unheard node.
            lastHeartbeatAt: Math.max(prev.lastHeartbeatAt, this.heard.get(id) ?? 0),
          }
        : null;
    }).catch((e) => this.log.warn("node status not written", { nodeId: id, error: errorMessage(e) }));
  }
}
