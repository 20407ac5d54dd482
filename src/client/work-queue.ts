import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { SCHEMA_VERSION, WorkItem, decode, encode, streamNames, type Decoded } from "../protocol/index.js";
import type { ClusterClient } from "./cluster-client.js";
import { isNoMessageFound } from "./errors.js";

/** One delivery of a work item: the decoded item (or why it is malformed) and its acks. */
export interface WorkMessage {
  readonly item: Decoded<WorkItem>;
  readonly subject: string;
  /** Done with it: the stream forgets it. */
  ack(): void;
  /** Hand it back for redelivery now. */
  nak(): void;
  /** Still on it: restart the ack wait. */
  working(): void;
  /** Never deliver it again. */
  term(): void;
}

export interface WorkConsumerOptions {
  /** How long a delivery may go without ack or `working()` before it is redelivered. */
  ackWaitMs: number;
  /** Deliveries in hand, unacked, at most. */
  maxAckPending?: number;
  /** Messages pulled per batch. */
  batch?: number;
}

/** A node's work deliveries, until closed or until the consumer behind them is lost. */
export interface WorkDeliveries extends AsyncIterable<WorkMessage> {
  close(): Promise<void>;
}

function delivery(m: JsMsg): WorkMessage {
  return {
    item: decode(WorkItem, m.data),
    subject: m.subject,
    ack: () => m.ack(),
    nak: () => m.nak(),
    working: () => m.working(),
    term: () => m.term(),
  };
}

/**
 * The WORK stream (work-queue retention, one subject per node): the controller publishes
 * "look at op X" for a node, finds and purges what is still queued; the node takes its items
 * through one durable pull consumer.
 */
export class WorkQueue {
  private readonly stream: string;

  constructor(private readonly client: ClusterClient) {
    this.stream = streamNames(client.prefix).work;
  }

  // ------------------------------------------------------------------ producer

  /** Publish "look at op X" for a node; `msgID` defaults to the op id (deduplicated for 2 min). */
  async publish(nodeId: string, opId: string, msgID = opId): Promise<void> {
    const item: WorkItem = WorkItem.parse({ v: SCHEMA_VERSION, opId, nodeId });
    await this.client.jsPublish(this.client.subjects.work(nodeId), encode(item), { msgID });
  }

  /** Work messages still in the stream for a node (delivered-but-unacked ones included). */
  async pending(nodeId: string): Promise<Array<{ seq: number; opId: string | null }>> {
    const subject = this.client.subjects.work(nodeId);
    const out: Array<{ seq: number; opId: string | null }> = [];
    let seq = 0;
    for (;;) {
      let m;
      try {
        // STREAM.MSG.GET with next_by_subj (server 2.9+); the typings only list seq/last_by_subj.
        m = await this.client.jsm.streams.getMessage(this.stream, {
          seq: seq + 1,
          next_by_subj: subject,
        } as never);
      } catch (e) {
        if (isNoMessageFound(e)) break;
        throw e;
      }
      if (!m) break;
      const d = decode(WorkItem, m.data);
      out.push({ seq: m.seq, opId: d.ok ? d.value.opId : null });
      seq = m.seq;
    }
    return out;
  }

  /** Delete the work messages of these ops; returns how many were removed. */
  async purge(nodeId: string, opIds: ReadonlySet<string>): Promise<number> {
    let n = 0;
    for (const m of await this.pending(nodeId)) {
      if (m.opId === null || !opIds.has(m.opId)) continue;
      if (await this.client.jsm.streams.deleteMessage(this.stream, m.seq, false).catch(() => false)) n++;
    }
    return n;
  }

  // ------------------------------------------------------------------ consumer

  /** The durable consumer through which a node takes its work. */
  static durableName(nodeId: string): string {
    return `agent_${nodeId}`;
  }

  /**
   * Delete a node's consumer: its unacked deliveries come back at once when it is made again,
   * instead of after the ack wait.
   */
  async resetConsumer(nodeId: string): Promise<void> {
    await this.client.jsm.consumers.delete(this.stream, WorkQueue.durableName(nodeId)).catch(() => false);
  }

  /**
   * Make (or attach to) a node's durable consumer and start pulling. The deliveries end when
   * closed, or when the consumer goes away (deleted, stream lost): `onLost` hears why, and the
   * caller consumes again.
   */
  async consume(
    nodeId: string,
    o: WorkConsumerOptions,
    onLost?: (status: string) => void,
  ): Promise<WorkDeliveries> {
    const durable = WorkQueue.durableName(nodeId);
    await this.client.jsm.consumers.add(this.stream, {
      durable_name: durable,
      filter_subject: this.client.subjects.work(nodeId),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: o.ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: o.maxAckPending ?? 256,
    });
    const messages: ConsumerMessages = await (
      await this.client.js.consumers.get(this.stream, durable)
    ).consume({ max_messages: o.batch ?? 16 });
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === "consumer_deleted" || (s.type === "consumer_not_found" && s.count > 2)) {
          onLost?.(s.type);
          await messages.close().catch(() => {});
        }
      }
    })().catch(() => {});
    return {
      async *[Symbol.asyncIterator]() {
        for await (const m of messages) yield delivery(m);
      },
      close: async () => {
        await messages.close().catch(() => {});
      },
    };
  }
}
