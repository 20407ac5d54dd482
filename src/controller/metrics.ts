import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Telemetry } from "../lib/telemetry.js";
import {
  API_METHODS,
  isApiMethod,
  isTerminal,
  NodeStatus,
  OpState,
  type ApiErrorCode,
  type NodeRecord,
  type OpRecord,
} from "../protocol/index.js";

/** What the controller's gauges read when scraped: this replica's lease and its view of the cluster. */
export interface ControllerGaugeSources {
  isLeader(): boolean;
  nodes(): Iterable<NodeRecord>;
  ops(): Iterable<OpRecord>;
}

/** Telemetry as the controller's parts take it: the log, and the replica's metrics when it has them. */
export type ControllerTelemetry = Telemetry & { readonly metrics?: ControllerMetrics };

export const REAPER_ACTIONS = ["ended", "republished", "cancels_resent", "deleted", "purged"] as const;
const ACTIVE_STATES = OpState.options.filter((s) => !isTerminal(s));
const OP_KINDS = ["install", "upgrade", "reinstall", "delete", "rollback"] as const;

/**
 * One replica's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * that replicas and agents started in one process each report only their own. Labels are kinds,
 * methods, codes and states, never node or op ids: their number stays bounded.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  private sources?: ControllerGaugeSources;

  readonly opsAdmitted = new Counter({
    name: "backplane_controller_ops_admitted_total",
    help: "Ops admitted by this replica (one per node), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly opsRefused = new Counter({
    name: "backplane_controller_ops_refused_total",
    help: "Ops refused by this replica (one per node, or one for a request refused as a whole), by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: "backplane_controller_api_requests_total",
    help: "API requests answered (over NATS and HTTP), by method and code (ok or the error code)",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  readonly apiDuration = new Histogram({
    name: "backplane_controller_api_request_duration_seconds",
    help: "Time to answer an API request, waiting for a turn included, by method",
    labelNames: ["method"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly upgradeCheckDuration = new Histogram({
    name: "backplane_controller_upgrade_check_duration_seconds",
    help: "Time an upgrade check took (inventories read, registries asked, results written)",
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly upgradeCheckHeads = new Counter({
    name: "backplane_controller_upgrade_check_head_requests_total",
    help: "Manifest HEAD requests the upgrade checks sent to registries",
    registers: [this.registry],
  });
  readonly reaperActions = new Counter({
    name: "backplane_controller_reaper_actions_total",
    help: "What the reaper did, by action (ended, republished, cancels_resent, deleted, purged)",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });

  constructor() {
    // collect() runs with `this` bound to the gauge: the sources are reached through this arrow.
    const sources = () => this.sources;
    new Gauge({
      name: "backplane_controller_leader",
      help: "1 while this replica holds the leader lease, else 0",
      registers: [this.registry],
      collect() {
        this.set(sources()?.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: "backplane_controller_nodes",
      help: "Nodes by status, as this replica's view has them",
      labelNames: ["status"] as const,
      registers: [this.registry],
      collect() {
        const n = new Map<string, number>(NodeStatus.options.map((s) => [s, 0]));
        for (const r of sources()?.nodes() ?? []) n.set(r.status, (n.get(r.status) ?? 0) + 1);
        for (const [status, count] of n) this.set({ status }, count);
      },
    });
    new Gauge({
      name: "backplane_controller_ops_active",
      help: "Ops not yet ended, by state (queued, running, cancelling), as this replica's view has them",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const n = new Map<string, number>(ACTIVE_STATES.map((s) => [s, 0]));
        for (const op of sources()?.ops() ?? []) {
          if (n.has(op.state)) n.set(op.state, n.get(op.state)! + 1);
        }
        for (const [state, count] of n) this.set({ state }, count);
      },
    });
    for (const kind of OP_KINDS) {
      this.opsAdmitted.inc({ kind }, 0);
      this.opsRefused.inc({ kind }, 0);
    }
    for (const action of REAPER_ACTIONS) this.reaperActions.inc({ action }, 0);
    this.upgradeCheckHeads.inc(0);
  }

  /** Where the scraped gauges read from (the replica sets this once its parts exist). */
  watch(sources: ControllerGaugeSources): void {
    this.sources = sources;
  }

  /** Add prom-client's process and Node.js metrics; done when the endpoint is served. */
  withProcessMetrics(): this {
    if (!this.registry.getSingleMetric("process_cpu_seconds_total")) {
      collectDefaultMetrics({ register: this.registry });
    }
    return this;
  }

  /** One API request answered. An unknown method name (anyone can send one) is counted as `unknown`. */
  apiRequest(method: string, code: ApiErrorCode | "ok", seconds: number): void {
    const m = isApiMethod(method) ? method : "unknown";
    this.apiRequests.inc({ method: m, code });
    this.apiDuration.observe({ method: m }, seconds);
  }

  /** The methods a request can be labelled with (for tests and docs). */
  static readonly methods: readonly string[] = [...API_METHODS, "unknown"];
}
