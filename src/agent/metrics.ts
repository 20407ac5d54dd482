import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { InstalledBackend } from "../protocol/index.js";
import { diskSpace } from "./disk.js";

/** What the agent's gauges read when scraped; set once the parts they read exist. */
export interface AgentGaugeSources {
  /** Ops executing (holding a slot) and ops waiting for a lock or a slot. */
  ops(): { running: number; waiting: number };
  /** The backends dir, whose filesystem's free space is reported. */
  backendsDir: string;
  /** Whether NATS is connected now. */
  natsConnected(): boolean;
}

const OP_KINDS = ["install", "upgrade", "reinstall", "delete", "rollback"] as const;

/**
 * The agent's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * that agents and controllers started in one process each report only their own.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private sources?: AgentGaugeSources;

  /** Ops that reached an end on this node, by kind and outcome. */
  readonly ops = new Counter({
    name: "backplane_agent_ops_total",
    help: "Ops this agent ended, by kind and outcome (succeeded, failed, cancelled, interrupted by a shutdown)",
    labelNames: ["kind", "outcome"] as const,
    registers: [this.registry],
  });
  readonly downloadedBytes = new Counter({
    name: "backplane_agent_downloaded_bytes_total",
    help: "Bytes downloaded from registries and URLs (retried ranges count again)",
    registers: [this.registry],
  });
  readonly installDuration = new Histogram({
    name: "backplane_agent_install_duration_seconds",
    help: "Time from the start of an install, upgrade or reinstall to its end, by kind and outcome",
    labelNames: ["kind", "outcome"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    registers: [this.registry],
  });
  readonly probeDuration = new Histogram({
    name: "backplane_agent_probe_duration_seconds",
    help: "Health probes of new versions before activation, by mode and result (passed, failed)",
    labelNames: ["mode", "result"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  readonly probeFailures = new Counter({
    name: "backplane_agent_probe_failures_total",
    help: "Health probes that failed (the new version did not go live), by mode",
    labelNames: ["mode"] as const,
    registers: [this.registry],
  });
  readonly heartbeatFailures = new Counter({
    name: "backplane_agent_heartbeat_publish_failures_total",
    help: "Heartbeats not published, by reason (disconnected: NATS was away; error: the publish failed)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly natsReconnects = new Counter({
    name: "backplane_agent_nats_reconnects_total",
    help: "Times the NATS connection came back after it was lost",
    registers: [this.registry],
  });
  readonly generationsKept = new Gauge({
    name: "backplane_agent_generations_kept",
    help: "Previous generations kept on disk for rollback, by backend (as of the last inventory)",
    labelNames: ["backend"] as const,
    registers: [this.registry],
  });

  constructor() {
    // collect() runs with `this` bound to the gauge: the sources are reached through this arrow.
    const sources = () => this.sources;
    new Gauge({
      name: "backplane_agent_ops_active",
      help: "Ops on this node now, by state (running: executing; waiting: for a lock or a slot)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const o = sources()?.ops() ?? { running: 0, waiting: 0 };
        this.set({ state: "running" }, o.running);
        this.set({ state: "waiting" }, o.waiting);
      },
    });
    new Gauge({
      name: "backplane_agent_disk_free_bytes",
      help: "Free bytes (for unprivileged users) on the filesystem of the backends dir",
      registers: [this.registry],
      async collect() {
        const dir = sources()?.backendsDir;
        const d = dir ? await diskSpace(dir).catch(() => undefined) : undefined;
        if (d) this.set(d.freeBytes);
      },
    });
    new Gauge({
      name: "backplane_agent_nats_connected",
      help: "1 while the NATS connection is up, else 0",
      registers: [this.registry],
      collect() {
        this.set(sources()?.natsConnected() ? 1 : 0);
      },
    });
    for (const kind of OP_KINDS)
      for (const outcome of ["succeeded", "failed"]) this.ops.inc({ kind, outcome }, 0);
    for (const mode of ["grpc", "exec"]) this.probeFailures.inc({ mode }, 0);
    for (const reason of ["disconnected", "error"]) this.heartbeatFailures.inc({ reason }, 0);
    this.downloadedBytes.inc(0);
    this.natsReconnects.inc(0);
  }

  /**
   * Add prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC); done when
   * the endpoint is served, not for every agent a test starts in-process.
   */
  withProcessMetrics(): this {
    if (!this.registry.getSingleMetric("process_cpu_seconds_total")) {
      collectDefaultMetrics({ register: this.registry });
    }
    return this;
  }

  /** Where the scraped gauges read from (the agent sets this once it has started its parts). */
  watch(sources: AgentGaugeSources): void {
    this.sources = sources;
  }

  /** The inventory just written: the generations each backend keeps. */
  inventory(backends: readonly InstalledBackend[]): void {
    this.generationsKept.reset();
    for (const b of backends)
      if (!b.isMeta) this.generationsKept.set({ backend: b.name }, b.previousGenerations.length);
  }
}
