import type { ClusterClient } from "../client/cluster-client.js";
import { errorMessage, type Logger } from "../client/log.js";
import { sanitizeToken, type Inventory } from "../protocol/index.js";
import type { BackendStore } from "./generations.js";

/**
 * Writes this node's inventory (one row per installed backend) to the inventory bucket. Calls that
 * arrive while a write is in flight are folded into one more write, so the last state always lands.
 */
export class InventoryPublisher {
  private running?: Promise<void>;
  private again = false;

  constructor(
    private readonly client: ClusterClient,
    private readonly store: BackendStore,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  async build(): Promise<Inventory> {
    return { v: 1, nodeId: this.nodeId, updatedAt: Date.now(), backends: await this.store.list() };
  }

  publish(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.client.put("inventory", sanitizeToken(this.nodeId), await this.build());
        } while (this.again);
      } catch (e) {
        this.log.warn("cannot write the inventory", { error: errorMessage(e) });
        throw e;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
