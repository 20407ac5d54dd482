import { DeliverPolicy } from "@nats-io/jetstream";
import type { ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import {
  AuditEvent,
  SCHEMA_VERSION,
  decode,
  encode,
  sanitizeToken,
  streamNames,
  type AuditKind,
} from "../protocol/index.js";

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

  constructor(
    private readonly client: ClusterClient,
    telemetry: Telemetry,
  ) {
    this.log = telemetry.log;
  }

  subject(kind: AuditKind, nodeId?: string, opId?: string): string {
    return this.client.subjects.event(kind, nodeId ?? "-", opId ?? "-");
  }

  /** Publish and wait for the stream's ack; `msgID` makes a re-publish within 2 min a no-op. */
  async record(kind: AuditKind, e: AuditInput, msgID?: string): Promise<void> {
    const ev: AuditEvent = { v: SCHEMA_VERSION, kind, ...e, at: e.at ?? Date.now() };
    await this.client.js.publish(
      this.subject(kind, e.nodeId, e.opId),
      encode(ev),
      msgID ? { msgID } : undefined,
    );
  }

  /** Record without making the caller wait; a failure is logged, never thrown. */
  post(kind: AuditKind, e: AuditInput, msgID?: string): Promise<void> {
    return this.record(kind, e, msgID).catch((err) =>
      this.log.warn("audit event not recorded", { kind, opId: e.opId, error: errorMessage(err) }),
    );
  }

  /** Newest first, scanning back from the end of the stream in growing windows. */
  async history(q: HistoryQuery): Promise<AuditEvent[]> {
    const stream = streamNames(this.client.prefix).events;
    const info = await this.client.jsm.streams.info(stream);
    const first = Math.max(1, info.state.first_seq);
    const last = info.state.last_seq;
    if (info.state.messages === 0 || last < first) return [];
    const filter = q.nodeId
      ? this.client.subjects.eventsAll().replace(/>$/, `*.${sanitizeToken(q.nodeId)}.*`)
      : undefined;
    let window = Math.max(256, q.limit * 4);
    for (;;) {
      const start = Math.max(first, last - window + 1);
      const events = await this.read(stream, start, filter, last);
      const matching = events.filter((e) => !q.backend || e.backend === q.backend);
      if (matching.length >= q.limit || start === first) return matching.reverse().slice(0, q.limit);
      window *= 4;
    }
  }

  private async read(
    stream: string,
    start: number,
    filter: string | undefined,
    last: number,
  ): Promise<AuditEvent[]> {
    const c = await this.client.js.consumers.get(stream, {
      ...(filter ? { filter_subjects: filter } : {}),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    const out: AuditEvent[] = [];
    try {
      const pending = (await c.info()).num_pending;
      if (pending === 0) return out;
      const it = await c.fetch({ max_messages: pending, expires: 5_000 });
      for await (const m of it) {
        if (m.seq > last) break;
        const d = decode(AuditEvent, m.data);
        if (d.ok) out.push(d.value);
        if (m.info.pending === 0 || m.seq === last) break;
      }
    } finally {
      await c.delete().catch(() => {});
    }
    return out;
  }
}
