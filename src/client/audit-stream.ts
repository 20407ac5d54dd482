import { DeliverPolicy } from "@nats-io/jetstream";
import {
  AUDIT_EVENT_MAX_BYTES,
  AuditEvent,
  decode,
  encode,
  sanitizeToken,
  streamNames,
  validate,
} from "../protocol/index.js";
import type { ClusterClient } from "./cluster-client.js";

/** Where the stream stands: sequences of its oldest and newest message, and how many it holds. */
export interface StreamBounds {
  first: number;
  last: number;
  messages: number;
}

/**
 * The EVENTS stream (limits retention) on `<prefix>.events.<kind>.<node>.<op>`: audit events
 * published with JetStream acks, read back by sequence range.
 */
export class AuditStream {
  private readonly stream: string;

  constructor(private readonly client: ClusterClient) {
    this.stream = streamNames(client.prefix).events;
  }

  subject(kind: string, nodeId?: string, opId?: string): string {
    return this.client.subjects.event(kind, nodeId ?? "-", opId ?? "-");
  }

  /** Validate, publish and wait for the stream's ack; `msgID` makes a re-publish within 2 min a no-op. */
  async publish(ev: AuditEvent, msgID?: string): Promise<void> {
    const subject = this.subject(ev.kind, ev.nodeId, ev.opId);
    const checked = validate(AuditEvent, ev);
    if (!checked.ok) throw new Error(`not publishing an invalid audit event on ${subject}: ${checked.error}`);
    const bytes = encode(checked.value);
    if (bytes.byteLength > AUDIT_EVENT_MAX_BYTES)
      throw new Error(`not publishing a ${bytes.byteLength}-byte audit event on ${subject}: over the cap`);
    await this.client.jsPublish(subject, bytes, msgID ? { msgID } : undefined);
  }

  async bounds(): Promise<StreamBounds> {
    const { state } = await this.client.jsm.streams.info(this.stream);
    return { first: Math.max(1, state.first_seq), last: state.last_seq, messages: state.messages };
  }

  /**
   * The valid events from sequence `start` up to `last`, oldest first, optionally of one node
   * only. Anything else (not JSON, another version, over the size cap: whoever may publish there
   * can store it) is skipped and handed to `onSkip` with its sequence and why.
   */
  async read(
    start: number,
    last: number,
    nodeId?: string,
    onSkip?: (seq: number, subject: string, error: string) => void,
  ): Promise<AuditEvent[]> {
    const filter = nodeId
      ? this.client.subjects.eventsAll().replace(/>$/, `*.${sanitizeToken(nodeId)}.*`)
      : undefined;
    const c = await this.client.js.consumers.get(this.stream, {
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
        const d =
          m.data.byteLength > AUDIT_EVENT_MAX_BYTES
            ? { ok: false as const, error: `${m.data.byteLength} bytes, over the cap` }
            : decode(AuditEvent, m.data);
        if (d.ok) out.push(d.value);
        else onSkip?.(m.seq, m.subject, d.error);
        if (m.info.pending === 0 || m.seq === last) break;
      }
    } finally {
      await c.delete().catch(() => {});
    }
    return out;
  }
}
