import { AuditStream, type ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { ReportOnce } from "../lib/report-once.js";
import type { Telemetry } from "../lib/telemetry.js";
import { SCHEMA_VERSION, type AuditEvent, type AuditKind } from "../protocol/index.js";

export type AuditInput = Omit<AuditEvent, "v" | "at" | "kind"> & { at?: number };

export interface HistoryQuery {
  limit: number;
  nodeId?: string;
  backend?: string;
}

/**
 * The audit trail: every admission, cancel, dismissal, retry, reaping, node status change,
 * upgrade check and settings change, published with JetStream to `<prefix>.events.<kind>.<node>.<op>`.
 * The EVENTS stream (limits retention) is the op history once records leave the ops bucket.
 */
export class Audit {
  private readonly log: Logger;
  private readonly stream: AuditStream;
  private readonly skipped = new ReportOnce();

  constructor(client: ClusterClient, telemetry: Telemetry) {
    this.log = telemetry.log;
    this.stream = new AuditStream(client);
  }

  subject(kind: AuditKind, nodeId?: string, opId?: string): string {
    return this.stream.subject(kind, nodeId, opId);
  }

  /** Publish and wait for the stream's ack; `msgID` makes a re-publish within 2 min a no-op. */
  async record(kind: AuditKind, e: AuditInput, msgID?: string): Promise<void> {
    const ev: AuditEvent = { v: SCHEMA_VERSION, kind, ...e, at: e.at ?? Date.now() };
    await this.stream.publish(ev, msgID);
  }

  /** Record without making the caller wait; a failure is logged, never thrown. */
  post(kind: AuditKind, e: AuditInput, msgID?: string): Promise<void> {
    return this.record(kind, e, msgID).catch((err) =>
      this.log.warn("audit event not recorded", { kind, opId: e.opId, error: errorMessage(err) }),
    );
  }

  /** Newest first, scanning back from the end of the stream in growing windows. */
  async history(q: HistoryQuery): Promise<AuditEvent[]> {
    const { first, last, messages } = await this.stream.bounds();
    if (messages === 0 || last < first) return [];
    let window = Math.max(256, q.limit * 4);
    for (;;) {
      const start = Math.max(first, last - window + 1);
      const events = await this.stream.read(start, last, q.nodeId, (seq, subject, error) => {
        if (this.skipped.first(String(seq)))
          this.log.warn("skipping a malformed audit event", { seq, subject, error });
      });
      const matching = events.filter((e) => !q.backend || e.backend === q.backend);
      if (matching.length >= q.limit || start === first) return matching.reverse().slice(0, q.limit);
      window *= 4;
    }
  }
}
