import type { ClusterClient } from "../client/index.js";
import { errorMessage } from "../lib/log.js";
import { SCHEMA_VERSION, WorkItem, decode, encode, streamNames } from "../protocol/index.js";

/** The WORK stream from the controller's side: publish work, find it, purge it. */
export class WorkQueue {
  private readonly stream: string;

  constructor(private readonly client: ClusterClient) {
    this.stream = streamNames(client.prefix).work;
  }

  /** Publish "look at op X" for a node; `msgID` defaults to the op id (deduplicated for 2 min). */
  async publish(nodeId: string, opId: string, msgID = opId): Promise<void> {
    const item: WorkItem = { v: SCHEMA_VERSION, opId, nodeId };
    await this.client.js.publish(this.client.subjects.work(nodeId), encode(item), { msgID });
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
        if (/no message found|not found/i.test(errorMessage(e))) break;
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
}
