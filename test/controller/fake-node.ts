import { WorkQueue, type ClusterClient, type WorkDeliveries } from "../../src/client/index.js";
import {
  SCHEMA_VERSION,
  isTerminal,
  opKey,
  type Heartbeat,
  type InstalledBackend,
  type OpRecord,
  type ProgressEvent,
} from "../../src/protocol/index.js";

export type Behaviour = "succeed" | "fail" | "hang";

export interface FakeNodeOptions {
  nodeId: string;
  capability?: string;
  heartbeatMs?: number;
  backends?: InstalledBackend[];
  /** What to do with each op; default succeed. */
  behave?: (op: OpRecord) => Behaviour;
  /** The digest an install of this target records (default: none). */
  digestOf?: (op: OpRecord) => string | undefined;
  /** Labels its heartbeats carry (the agent's `--label`). */
  labels?: Record<string, string>;
}

/**
 * A tiny in-test node that speaks the agent contract on the real NATS server: heartbeats,
 * an inventory, a durable work consumer, and op records moved by compare-and-set. It is a
 * real peer of the controller, not a mock of NATS; it installs nothing on disk.
 */
export class FakeNode {
  readonly nodeId: string;
  readonly ran: string[] = [];
  backends: InstalledBackend[];
  private hbTimer?: NodeJS.Timeout;
  private messages?: WorkDeliveries;
  private readonly hangs = new Map<string, () => void>();
  /** Generations replaced by upgrades, per concrete, oldest first (what a rollback brings back). */
  private readonly older = new Map<string, InstalledBackend[]>();
  private stopped = false;
  /** Ignore cancel signals (as if they were lost). */
  deaf = false;

  constructor(
    private readonly client: ClusterClient,
    private readonly o: FakeNodeOptions,
  ) {
    this.nodeId = o.nodeId;
    this.backends = o.backends ?? [];
  }

  heartbeat(): Heartbeat {
    const hb: Heartbeat = {
      v: SCHEMA_VERSION,
      nodeId: this.nodeId,
      name: this.nodeId,
      capability: this.o.capability ?? "default",
      gpu: { vendor: "none", vramBytes: 0 },
      disk: { freeBytes: 1e12, totalBytes: 2e12 },
      agentVersion: "fake",
      runningOps: this.hangs.size,
      labels: this.o.labels ?? {},
      sentAt: Date.now(),
    };
    this.client.publishHeartbeat(hb);
    return hb;
  }

  startHeartbeats(): void {
    clearInterval(this.hbTimer);
    this.heartbeat();
    this.hbTimer = setInterval(() => this.heartbeat(), this.o.heartbeatMs ?? 100);
  }

  stopHeartbeats(): void {
    clearInterval(this.hbTimer);
  }

  async writeInventory(): Promise<void> {
    await this.client.put("inventory", this.nodeId, {
      v: SCHEMA_VERSION,
      nodeId: this.nodeId,
      updatedAt: Date.now(),
      backends: this.backends,
    });
  }

  async start(opts: { work?: boolean; heartbeats?: boolean } = {}): Promise<this> {
    await this.writeInventory();
    if (opts.heartbeats ?? true) this.startHeartbeats();
    if (opts.work ?? true) await this.consume();
    this.client.onCancel(this.nodeId, (c) => {
      if (!this.deaf) this.hangs.get(c.opId)?.();
    });
    return this;
  }

  async consume(): Promise<void> {
    this.messages = await new WorkQueue(this.client).consume(this.nodeId, { ackWaitMs: 30_000, batch: 8 });
    void (async () => {
      for await (const m of this.messages!) {
        const d = m.item;
        if (d.ok) {
          void this.run(d.value.opId)
            .catch(() => {}) // the test may close the connection under a running op
            .finally(() => {
              try {
                m.ack();
              } catch {
                // connection already closed
              }
            });
        } else m.term();
      }
    })();
  }

  private async cas(key: string, change: (op: OpRecord) => OpRecord | null): Promise<OpRecord | null> {
    for (let i = 0; i < 20; i++) {
      const cur = await this.client.get("ops", key);
      if (!cur) return null;
      const next = change(cur.value);
      if (!next) return cur.value;
      try {
        await this.client.update("ops", key, next, cur.revision);
        return next;
      } catch {
        // lost a race (a cancel): re-read and decide again
      }
    }
    throw new Error("fake node: CAS kept failing");
  }

  private async run(opId: string): Promise<void> {
    if (this.stopped) return;
    const key = opKey(this.nodeId, opId);
    const first = await this.client.get("ops", key);
    if (!first || isTerminal(first.value.state)) return;
    const now = () => Date.now();
    if (first.value.state === "cancelling") {
      await this.cas(key, (op) =>
        op.state === "cancelling" ? { ...op, state: "cancelled", updatedAt: now(), finishedAt: now() } : null,
      );
      return;
    }
    const started = await this.cas(key, (op) => {
      if (op.state !== "queued") return null;
      return {
        ...op,
        state: "running",
        attempts: op.attempts + 1,
        startedAt: now(),
        updatedAt: now(),
        phase: "downloading",
      };
    });
    if (!started || started.state !== "running") {
      if (started?.state === "cancelling") {
        await this.cas(key, (op) => ({ ...op, state: "cancelled", updatedAt: now(), finishedAt: now() }));
      }
      return;
    }
    this.ran.push(opId);
    const p: ProgressEvent = {
      v: SCHEMA_VERSION,
      opId,
      nodeId: this.nodeId,
      backend: started.backend,
      phase: "downloading",
      bytesDone: 1,
      bytesTotal: 2,
      bytesPerSec: 1,
      etaSec: 1,
      final: false,
      at: now(),
    };
    this.client.publishProgress(p);
    const behaviour = this.o.behave?.(started) ?? "succeed";
    if (behaviour === "hang") {
      await new Promise<void>((resolve) => this.hangs.set(opId, resolve));
      this.hangs.delete(opId);
      await this.cas(key, (op) => ({ ...op, state: "cancelled", updatedAt: now(), finishedAt: now() }));
      return;
    }
    if (behaviour === "fail") {
      await this.cas(key, (op) =>
        op.state === "running"
          ? { ...op, state: "failed", error: "fake failure", updatedAt: now(), finishedAt: now() }
          : { ...op, state: "cancelled", updatedAt: now(), finishedAt: now() },
      );
      return;
    }
    const digest = this.o.digestOf?.(started);
    this.apply(started, digest);
    await this.writeInventory();
    await this.cas(key, (op) =>
      op.state === "running"
        ? {
            ...op,
            state: "succeeded",
            updatedAt: now(),
            finishedAt: now(),
            result: { version: op.target?.version, digest, generation: `g-${opId}`, noop: false },
          }
        : { ...op, state: "cancelled", updatedAt: now(), finishedAt: now() },
    );
  }

  private apply(op: OpRecord, digest: string | undefined): void {
    const names = new Set([op.backend, op.target?.name, op.target?.meta].filter(Boolean));
    if (op.kind === "delete") {
      this.backends = this.backends.filter((b) => !names.has(b.name));
      return;
    }
    if (op.kind === "rollback") {
      // The generation before comes back live, as the agent's instant rollback does.
      const live = this.backends.find((b) => b.name === op.backend && !b.isMeta);
      const prev = live && this.older.get(live.name)?.pop();
      if (prev) this.backends = this.backends.map((b) => (b === live ? prev : b));
      return;
    }
    if (!op.target) return;
    const t = op.target;
    const was = this.backends.find((b) => b.name === t.name && !b.isMeta);
    if (was) this.older.set(t.name, [...(this.older.get(t.name) ?? []), was]);
    this.backends = this.backends.filter((b) => b.name !== t.name && b.name !== t.meta);
    this.backends.push({
      name: t.name,
      metadata: {
        name: t.name,
        alias: t.alias,
        version: t.version,
        uri: t.uri,
        digest,
        installed_at: new Date().toISOString(),
      },
      isMeta: false,
      generation: `g-${op.id}`,
      previousGenerations: (this.older.get(t.name) ?? []).map((b) => b.generation ?? "").reverse(),
    });
    if (t.meta) {
      this.backends.push({
        name: t.meta,
        metadata: { name: t.meta, meta_backend_for: t.name },
        isMeta: true,
        generation: null,
        previousGenerations: [],
      });
    }
  }

  /** Release a hanging op as if its cancel signal had arrived. */
  release(opId: string): void {
    this.hangs.get(opId)?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopHeartbeats();
    await this.messages?.close().catch(() => {});
  }
}
