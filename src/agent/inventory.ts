import type { ClusterClient } from "../client/cluster-client.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { rerunWhileBusy } from "../lib/rerun.js";
import { sanitizeToken, type Inventory } from "../protocol/index.js";
import type { BackendStore } from "./generations.js";
import type { AgentMetrics } from "./metrics.js";

/**
 * Writes this node's inventory (one row per installed backend) to the inventory bucket. Calls that
 * arrive while a write is in flight are folded into one more write, so the last state always lands.
 */
export class InventoryPublisher {
  constructor(
    private readonly client: ClusterClient,
    private readonly store: BackendStore,
    private readonly nodeId: string,
    private readonly log: Logger,
    private readonly metrics?: AgentMetrics,
  ) {}

  async build(): Promise<Inventory> {
    return { v: 1, nodeId: this.nodeId, updatedAt: Date.now(), backends: await this.store.list() };
  }

  /** Write the inventory; calls made while a write is in flight get one more write after it. */
  readonly publish = rerunWhileBusy(async () => {
    try {
      const inventory = await this.build();
      this.metrics?.inventory(inventory.backends);
      await this.client.put("inventory", sanitizeToken(this.nodeId), inventory);
    } catch (e) {
      this.log.warn("cannot write the inventory", { error: errorMessage(e) });
      throw e;
    }
  });
}
