import { StorageType } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { z } from "zod";
import { isCasConflict, type ClusterClient } from "../client/index.js";
import { bucketNames, decode, encode, isTerminal, type OpRecord } from "../protocol/index.js";

const Claim = z.object({ v: z.literal(1), opId: z.string(), at: z.number(), by: z.string() });
type Claim = z.infer<typeof Claim>;

/** How long a claim whose op record is not written yet counts as "being admitted right now". */
export const CLAIM_SETTLE_MS = 5_000;

export type ClaimResult = { won: true } | { won: false; op: OpRecord };

/**
 * One claim per (node, backend), in a controller-private bucket, naming the op that holds it.
 * A claim is won with `create`, so two replicas admitting the same (node, backend) at the same
 * instant cannot both win. Claims are never cleaned up eagerly: one whose op is terminal or gone
 * is stale and is replaced (compare-and-set) by the next admission.
 */
export class ClaimStore {
  private constructor(
    private readonly client: ClusterClient,
    private readonly name: string,
    private readonly kv: KV,
    private readonly holder: string,
    private readonly settleMs: number,
  ) {}

  static async open(
    client: ClusterClient,
    holder: string,
    replicas = 1,
    settleMs = CLAIM_SETTLE_MS,
  ): Promise<ClaimStore> {
    const name = `${bucketNames(client.prefix).ops}_claims`;
    const kv = await client.openPrivateBucket(name, {
      history: 1,
      replicas,
      storage: StorageType.File,
    });
    return new ClaimStore(client, name, kv, holder, settleMs);
  }

  static key(nodeId: string, backend: string): string {
    return `${nodeId}.${Buffer.from(backend).toString("base64url")}`;
  }

  /**
   * Claim (node, backend) for `opId`. Lost claims return the active op holding it. `readOp`
   * reads an op record of that node by id, from KV (not from a possibly lagging copy).
   */
  async claim(
    nodeId: string,
    backend: string,
    opId: string,
    readOp: (nodeId: string, opId: string) => Promise<OpRecord | null>,
  ): Promise<ClaimResult> {
    const key = ClaimStore.key(nodeId, backend);
    const mine = (): Uint8Array => encode({ v: 1, opId, at: Date.now(), by: this.holder } satisfies Claim);
    // Bounded by time: long enough for an abandoned claim to turn stale.
    const deadline = Date.now() + this.settleMs + 5_000;
    while (Date.now() < deadline) {
      try {
        await this.client.createIn(this.kv, this.name, key, mine());
        return { won: true };
      } catch (e) {
        if (!isCasConflict(e)) throw e;
      }
      const cur = await this.kv.get(key);
      if (!cur || cur.operation !== "PUT") continue;
      const d = decode(Claim, cur.value);
      const claim = d.ok ? d.value : null;
      if (claim?.opId === opId) {
        // Re-claiming for the same op (a retry): refresh it.
        try {
          await this.kv.update(key, mine(), cur.revision);
          return { won: true };
        } catch (e) {
          if (!isCasConflict(e)) throw e;
          continue;
        }
      }
      const holder = claim ? await readOp(nodeId, claim.opId) : null;
      if (holder && !isTerminal(holder.state)) return { won: false, op: holder };
      if (claim && !holder && Date.now() - claim.at < this.settleMs) {
        // Another replica won a moment ago and is writing its op record now.
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      // Stale: its op finished, was deleted, or its admitter died before writing it.
      await this.kv.delete(key, { previousSeq: cur.revision }).catch(() => {});
    }
    throw new Error(`could not claim ${backend} on ${nodeId}: too much contention`);
  }

  /** Hand a claim back (the op was never written). */
  async release(nodeId: string, backend: string, opId: string): Promise<void> {
    const key = ClaimStore.key(nodeId, backend);
    const cur = await this.kv.get(key);
    if (!cur || cur.operation !== "PUT") return;
    const d = decode(Claim, cur.value);
    if (d.ok && d.value.opId === opId)
      await this.kv.delete(key, { previousSeq: cur.revision }).catch(() => {});
  }
}
