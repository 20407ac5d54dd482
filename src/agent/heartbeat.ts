import { hostname } from "node:os";
import type { ClusterClient } from "../client/cluster-client.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { HEARTBEAT_INTERVAL_MS, type GpuInfo, type Heartbeat } from "../protocol/index.js";
import { diskSpace } from "./disk.js";
import type { AgentMetrics } from "./metrics.js";

export interface HeartbeatDeps {
  client: ClusterClient;
  nodeId: string;
  name?: string;
  capability: string;
  gpu: GpuInfo;
  backendsDir: string;
  agentVersion: string;
  labels: Record<string, string>;
  runningOps(): number;
  intervalMs?: number;
  log: Logger;
  metrics?: AgentMetrics;
}

/** Publishes this node's heartbeat now and every interval (skipped while NATS is unreachable). */
export class HeartbeatPublisher {
  private timer?: NodeJS.Timeout;

  constructor(private readonly d: HeartbeatDeps) {}

  async build(): Promise<Heartbeat> {
    const disk = await diskSpace(this.d.backendsDir).catch(() => ({ freeBytes: 0, totalBytes: 0 }));
    return {
      v: 1,
      nodeId: this.d.nodeId,
      name: (this.d.name ?? hostname()).slice(0, 128) || this.d.nodeId,
      capability: this.d.capability,
      gpu: this.d.gpu,
      disk,
      agentVersion: this.d.agentVersion.slice(0, 64),
      runningOps: this.d.runningOps(),
      labels: this.d.labels,
      sentAt: Date.now(),
    };
  }

  async beat(): Promise<void> {
    if (this.d.client.status.state !== "connected") {
      this.d.metrics?.heartbeatFailures.inc({ reason: "disconnected" });
      return;
    }
    try {
      this.d.client.publishHeartbeat(await this.build());
    } catch (e) {
      this.d.metrics?.heartbeatFailures.inc({ reason: "error" });
      this.d.log.warn("heartbeat not sent", { error: errorMessage(e) });
    }
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.d.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
