import type { ClusterClient, Entry, Watcher } from "../client/index.js";
import {
  SETTINGS_KEY,
  isTerminal,
  type Inventory,
  type NodeRecord,
  type OpRecord,
  type Settings,
  type UpgradeInfo,
} from "../protocol/index.js";

export type ViewChange =
  | { type: "node"; key: string; value: NodeRecord | null }
  | { type: "inventory"; key: string; value: Inventory | null }
  | { type: "op"; key: string; value: OpRecord | null; prev: OpRecord | null }
  | { type: "upgrade"; key: string; value: UpgradeInfo | null }
  | { type: "settings"; value: Settings | null };

/**
 * This replica's live copy of the cluster state, fed by KV watches: the initial state, then
 * every change. Decisions read it; writes always go to KV with compare-and-set, so a copy that
 * lags by a few milliseconds can cost a retry but never a wrong write.
 */
export class ClusterView {
  readonly nodes = new Map<string, Entry<NodeRecord>>();
  readonly inventories = new Map<string, Inventory>();
  readonly ops = new Map<string, Entry<OpRecord>>();
  readonly upgrades = new Map<string, UpgradeInfo>();
  settings: Settings | null = null;
  private readonly watchers: Watcher[] = [];
  private readonly listeners = new Set<(c: ViewChange, initial: boolean) => void>();
  private ready = false;

  constructor(private readonly client: ClusterClient) {}

  /** Subscribe to changes; `initial` is true for entries delivered before the view was ready. */
  onChange(l: (c: ViewChange, initial: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(c: ViewChange): void {
    for (const l of this.listeners) l(c, !this.ready);
  }

  async start(): Promise<void> {
    const c = this.client;
    this.watchers.push(
      c.watch("nodes", (e) => {
        if (e.type === "put") this.nodes.set(e.key, { value: e.value, revision: e.revision });
        else if (e.type === "delete") this.nodes.delete(e.key);
        else return;
        this.emit({ type: "node", key: e.key, value: e.type === "put" ? e.value : null });
      }),
      c.watch("inventory", (e) => {
        if (e.type === "put") this.inventories.set(e.key, e.value);
        else if (e.type === "delete") this.inventories.delete(e.key);
        else return;
        this.emit({ type: "inventory", key: e.key, value: e.type === "put" ? e.value : null });
      }),
      c.watch("ops", (e) => {
        if (e.type === "ready") return;
        const prev = this.ops.get(e.key)?.value ?? null;
        if (e.type === "put") {
          const cur = this.ops.get(e.key);
          // A re-created watch may replay revisions already seen.
          if (cur && cur.revision >= e.revision) return;
          this.ops.set(e.key, { value: e.value, revision: e.revision });
        } else this.ops.delete(e.key);
        this.emit({ type: "op", key: e.key, value: e.type === "put" ? e.value : null, prev });
      }),
      c.watch("upgrades", (e) => {
        if (e.type === "put") this.upgrades.set(e.key, e.value);
        else if (e.type === "delete") this.upgrades.delete(e.key);
        else return;
        this.emit({ type: "upgrade", key: e.key, value: e.type === "put" ? e.value : null });
      }),
      c.watch(
        "settings",
        (e) => {
          if (e.type === "put") this.settings = e.value;
          else if (e.type === "delete") this.settings = null;
          else return;
          this.emit({ type: "settings", value: this.settings });
        },
        { key: SETTINGS_KEY },
      ),
    );
    await Promise.all(this.watchers.map((w) => w.ready));
    this.ready = true;
  }

  activeOps(): OpRecord[] {
    return [...this.ops.values()].map((e) => e.value).filter((op) => !isTerminal(op.state));
  }

  nodeRecords(): Map<string, NodeRecord> {
    return new Map([...this.nodes].map(([k, e]) => [k, e.value]));
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    this.watchers.length = 0;
  }
}
