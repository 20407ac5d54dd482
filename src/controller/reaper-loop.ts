import { MalformedRecordError, type ClusterClient, type WorkQueue } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { Periodic } from "../lib/periodic.js";
import { SingleFlight } from "../lib/single-flight.js";
import type { Audit } from "./audit.js";
import { planReaping, type ReapRules } from "./decide/reaper.js";
import type { LeaderDuty } from "./duties.js";
import type { ControllerTelemetry } from "./metrics.js";
import type { Operations } from "./operations.js";
import type { ClusterView } from "./view.js";

export interface ReaperDeps {
  client: ClusterClient;
  view: ClusterView;
  ops: Operations;
  work: WorkQueue;
  audit: Audit;
  rules: ReapRules;
  intervalMs: number;
  telemetry: ControllerTelemetry;
}

export interface ReapReport {
  ended: number;
  republished: number;
  cancelsResent: number;
  deleted: number;
  purged: number;
}

/**
 * Leader only, on becoming leader and then every interval: ends queued work that can no longer
 * run, fails stale ops, re-publishes work that an admitting replica died before publishing,
 * re-sends cancel signals that may have been lost, and drops settled records past retention
 * (their history stays in the EVENTS stream).
 */
export class ReaperLoop implements LeaderDuty {
  readonly name = "reaper";
  private active = false;
  private readonly passes = new SingleFlight(() => this.run());
  private readonly loop: Periodic;
  private lastMarkerSweep = 0;
  private readonly log: Logger;

  constructor(private readonly d: ReaperDeps) {
    this.log = d.telemetry.log;
    this.loop = new Periodic({
      intervalMs: d.intervalMs,
      run: () => this.pass(),
      onError: (e) => this.log.warn("reaper pass failed", { error: errorMessage(e) }),
    });
  }

  /** A pass at once, then one every interval. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.loop.start({ now: true });
  }

  /** Settles once no pass is running, the loop's or one asked for directly. */
  async stop(): Promise<void> {
    this.active = false;
    await this.loop.stop();
    await this.passes.inFlight?.catch(() => {});
  }

  /** One pass; concurrent callers share it. */
  pass(): Promise<ReapReport> {
    return this.passes.run();
  }

  private count(report: ReapReport): void {
    const m = this.d.telemetry.metrics;
    if (m) {
      const { ended, republished, cancelsResent, deleted, purged } = report;
      const by = { ended, republished, cancels_resent: cancelsResent, deleted, purged };
      for (const [action, n] of Object.entries(by)) if (n > 0) m.reaperActions.inc({ action }, n);
    }
  }

  private async run(): Promise<ReapReport> {
    const report: ReapReport = { ended: 0, republished: 0, cancelsResent: 0, deleted: 0, purged: 0 };
    try {
      return await this.reap(report);
    } finally {
      this.count(report);
    }
  }

  private async reap(report: ReapReport): Promise<ReapReport> {
    const { view, ops, work, audit } = this.d;
    const keyed = [...view.ops].map(([key, e]) => ({ key, op: e.value }));
    const plan = planReaping(keyed, view.nodeRecords(), Date.now(), this.d.rules);

    const toPurge = new Map<string, Set<string>>();
    for (const e of plan.end) {
      if (!this.active) return report;
      const op = await ops.end(e.key, e.reason).catch(() => null);
      if (!op) continue;
      report.ended++;
      if (!toPurge.has(e.nodeId)) toPurge.set(e.nodeId, new Set());
      toPurge.get(e.nodeId)!.add(e.opId);
      this.log.info("op reaped", { opId: e.opId, nodeId: e.nodeId, state: e.state, reason: e.reason });
      void audit.post("op.reaped", {
        actor: "reaper",
        nodeId: e.nodeId,
        opId: e.opId,
        backend: op.backend,
        message: e.reason,
        op,
      });
    }
    for (const [nodeId, ids] of toPurge) report.purged += await work.purge(nodeId, ids).catch(() => 0);

    const byNode = new Map<string, typeof plan.orphanCandidates>();
    for (const c of plan.orphanCandidates) byNode.set(c.nodeId, [...(byNode.get(c.nodeId) ?? []), c]);
    for (const [nodeId, candidates] of byNode) {
      if (!this.active) return report;
      const present = new Set((await work.pending(nodeId).catch(() => [])).map((m) => m.opId));
      for (const c of candidates) {
        if (present.has(c.opId)) continue;
        // One record that cannot be read (the client logs it once) must not stop the pass.
        const cur = await ops.readOp(nodeId, c.opId).catch((e: unknown) => {
          if (!(e instanceof MalformedRecordError)) throw e;
          this.d.client.reportMalformed("ops", e.key, e.revision, e.reason);
          return null;
        });
        if (cur?.state !== "queued") continue;
        await work.publish(nodeId, c.opId, `${c.opId}.orphan.${cur.updatedAt}`);
        report.republished++;
        this.log.warn("re-published work for an orphaned op", { opId: c.opId, nodeId });
        void audit.post("op.retried", {
          actor: "reaper",
          nodeId,
          opId: c.opId,
          backend: cur.backend,
          message: "work message was missing (admitting replica died?); re-published",
        });
      }
    }

    for (const c of plan.resendCancel) {
      ops.signalCancel(c.nodeId, c.opId);
      report.cancelsResent++;
    }

    for (const key of plan.delete) {
      if (!this.active) return report;
      const rev = view.ops.get(key)?.revision;
      await this.d.client
        .delete("ops", key, rev)
        .then(() => report.deleted++)
        .catch(() => {});
    }
    if (report.deleted > 0 || Date.now() - this.lastMarkerSweep > 60 * 60_000) {
      // Deleting a KV key leaves a marker; sweep old ones so the ops stream does not grow forever.
      this.lastMarkerSweep = Date.now();
      // The concrete bucket class has purgeDeletes; the KV interface does not declare it.
      const kv = this.d.client.bucket("ops") as unknown as {
        purgeDeletes?: (olderMs: number) => Promise<unknown>;
      };
      await kv.purgeDeletes?.(Math.max(60_000, this.d.rules.retentionMs / 24)).catch(() => {});
    }
    return report;
  }
}
