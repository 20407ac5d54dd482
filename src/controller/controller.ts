import { hostname } from "node:os";
import { untilJetStream, WorkQueue, type ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { Periodic } from "../lib/periodic.js";
import { silentTelemetry, withFields, type Telemetry } from "../lib/telemetry.js";
import {
  GalleryLoader,
  type GalleryCatalog,
  type GallerySource,
  type GalleryStatus,
} from "../gallery/index.js";
import { RegistryClient } from "../oci/index.js";
import { ApiHandlers } from "./api-handlers.js";
import { Audit } from "./audit.js";
import { AutoUpgrade } from "./auto-upgrade.js";
import { ClaimStore } from "./claims.js";
import { defaultTimings, type ControllerTimings, type DeepPartial } from "./config.js";
import { LeaderDuties } from "./duties.js";
import { RolloutDuty, Rollouts } from "./rollouts.js";
import { EventStream, type EventLimits } from "./events-ws.js";
import { HealthMonitor } from "./health-monitor.js";
import { HttpApi, type HttpApiOptions } from "./http-api.js";
import { LeaderLease } from "./lease.js";
import { ControllerMetrics, type ControllerTelemetry } from "./metrics.js";
import { serveNatsApi } from "./nats-api.js";
import { NodeAdmin } from "./node-admin.js";
import { PolicyStore } from "./policy-store.js";
import { OpAuditor } from "./op-auditor.js";
import { Operations } from "./operations.js";
import { ReaperLoop } from "./reaper-loop.js";
import { RequestDedupe } from "./request-dedupe.js";
import { SettingsStore } from "./settings-store.js";
import { UpgradeChecker } from "./upgrade-checker.js";
import { ClusterView } from "./view.js";

export interface ControllerOptions {
  /** A connected client; the controller does not close it. */
  client: ClusterClient;
  /** This replica's id (in the lease and the logs). */
  id?: string;
  galleries: GallerySource[];
  galleryCacheDir?: string;
  devSuffix?: string;
  /** Serve the API over HTTP too: where, the token (generated when absent), Host names, socket caps. */
  http?: Omit<HttpApiOptions, "galleries" | "telemetry"> & { events?: Partial<EventLimits> };
  requireApproval?: boolean;
  timings?: DeepPartial<ControllerTimings>;
  /** Registry client for digest checks (credentials, insecure registries). */
  registry?: RegistryClient;
  /** JetStream replicas for the controller's own claims bucket. */
  replicas?: number;
  /** Where the controller logs; silent by default. Its metrics are its own (`metrics`). */
  telemetry?: Telemetry;
}

export function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

/**
 * One controller replica. Every replica serves the API (NATS queue group and, optionally, HTTP);
 * the one holding the lease also runs the leader duties (`duties` below). All state is in
 * JetStream, so any replica can die at any moment and another carries on.
 */
export class Controller {
  readonly id: string;
  readonly timings: ControllerTimings;
  readonly view: ClusterView;
  readonly lease: LeaderLease;
  readonly ops: Operations;
  readonly api: ApiHandlers;
  readonly checker: UpgradeChecker;
  readonly autoUpgrade: AutoUpgrade;
  readonly reaper: ReaperLoop;
  readonly health: HealthMonitor;
  readonly rolloutDuty: RolloutDuty;
  readonly gallery: GalleryLoader;
  /** What only the leader does, started in this order and stopped in reverse. */
  private readonly duties: LeaderDuties;
  /** This replica's Prometheus metrics (served on /metrics of the HTTP listener). */
  readonly metrics = new ControllerMetrics();
  httpUrl?: string;
  private readonly telemetry: ControllerTelemetry;
  private readonly log: Logger;
  private readonly stops: Array<() => void | Promise<void>> = [];

  private constructor(
    private readonly o: ControllerOptions,
    claims: ClaimStore,
  ) {
    this.id = o.id ?? defaultReplicaId();
    const telemetry = withFields(
      { ...(o.telemetry ?? silentTelemetry), metrics: this.metrics },
      { replica: this.id },
    );
    this.telemetry = telemetry;
    this.log = telemetry.log;
    this.timings = defaultTimings(o.timings);
    this.timings.health.requireApproval = o.requireApproval ?? this.timings.health.requireApproval;
    const client = o.client;
    this.gallery = new GalleryLoader({
      sources: o.galleries,
      cacheDir: o.galleryCacheDir,
      devSuffix: o.devSuffix,
      logger: this.log,
    });
    const catalog = (): GalleryCatalog => this.gallery.catalog;
    this.view = new ClusterView(client);
    this.lease = new LeaderLease(client, { holder: this.id, telemetry });
    this.metrics.watch({
      isLeader: () => this.lease.isLeader(),
      nodes: () => this.view.nodeRecords().values(),
      ops: () => [...this.view.ops.values()].map((e) => e.value),
    });
    const audit = new Audit(client, telemetry);
    const work = new WorkQueue(client);
    this.ops = new Operations({ client, view: this.view, claims, work, audit, catalog, telemetry });
    const settings = new SettingsStore(client, this.view, audit);
    const nodes = new NodeAdmin(client, this.view, this.ops, audit, () => this.timings.health);
    const isLeader = () => this.lease.isLeader();
    this.checker = new UpgradeChecker({
      client,
      view: this.view,
      catalog,
      refreshCatalog: () => this.gallery.load(),
      registry: o.registry ?? new RegistryClient(),
      audit,
      settings,
      isLeader,
      intervalMs: this.timings.upgradeCheckIntervalMs,
      debounceMs: this.timings.checkDebounceMs,
      forwardTimeoutMs: this.timings.checkTimeoutMs,
      telemetry,
    });
    this.reaper = new ReaperLoop({
      client,
      view: this.view,
      ops: this.ops,
      work,
      audit,
      rules: this.timings.reap,
      intervalMs: this.timings.reapIntervalMs,
      telemetry,
    });
    this.health = new HealthMonitor({
      client,
      view: this.view,
      audit,
      rules: this.timings.health,
      tickMs: this.timings.healthTickMs,
      telemetry,
    });
    const rolloutDeps = {
      client,
      view: this.view,
      ops: this.ops,
      audit,
      catalog,
      settings,
      telemetry,
      intervalMs: this.timings.rolloutIntervalMs,
      retention: this.timings.rolloutRetention,
    };
    this.rolloutDuty = new RolloutDuty(rolloutDeps, this.id);
    const rollouts = new Rollouts(rolloutDeps);
    this.autoUpgrade = new AutoUpgrade({
      client,
      view: this.view,
      rollouts,
      settings,
      checker: this.checker,
      isLeader,
      telemetry,
    });
    this.api = new ApiHandlers({
      client,
      view: this.view,
      ops: this.ops,
      rollouts,
      policy: new PolicyStore(client, this.view, audit, catalog),
      nodes,
      settings,
      checker: this.checker,
      audit,
      catalog,
      telemetry,
      dedupe: new RequestDedupe(client, { holder: this.id, logger: telemetry.log }),
    });
    this.duties = new LeaderDuties(
      [
        new OpAuditor(this.view, audit),
        this.health,
        this.reaper,
        this.rolloutDuty,
        // Before the checker, so that the findings of its first check reach auto-upgrade.
        this.autoUpgrade,
        this.checker,
      ],
      telemetry,
    );
  }

  static async start(o: ControllerOptions): Promise<Controller> {
    const id = o.id ?? defaultReplicaId();
    // A cluster that has just started may have no stream leaders yet: wait, do not exit.
    const claims = await untilJetStream(
      "the claims bucket",
      () => ClaimStore.open(o.client, id, o.replicas ?? 1, defaultTimings(o.timings).claimSettleMs),
      { log: (o.telemetry ?? silentTelemetry).log },
    );
    const c = new Controller({ ...o, id }, claims);
    // A replica that cannot start (HTTP not served, say) stops what it had started, so that the
    // process exits with the error instead of idling on its timers.
    await c.boot().catch(async (e: unknown) => {
      await c.stop({ release: false });
      throw e;
    });
    return c;
  }

  /** What /readyz checks besides the replica having started: NATS connected. */
  readonly readinessChecks = [
    {
      name: "nats",
      check: () => {
        const s = this.o.client.status.state;
        return s === "connected" ? undefined : `NATS is ${s}`;
      },
    },
  ];

  get galleryStatus(): GalleryStatus[] {
    return this.gallery.status;
  }

  isLeader(): boolean {
    return this.lease.isLeader();
  }

  private async boot(): Promise<void> {
    // The HTTP port first: a replica that cannot have it fails before it starts anything else.
    let serveHttp = () => {};
    if (this.o.http) {
      const { events: limits, ...httpOpts } = this.o.http;
      const events = new EventStream(this.o.client, this.view, this.telemetry, limits);
      const http = new HttpApi(this.api, events, {
        ...httpOpts,
        galleries: () => this.gallery.status,
        status: { registry: this.metrics.withProcessMetrics().registry, checks: this.readinessChecks },
        telemetry: this.telemetry,
      });
      this.stops.push(async () => {
        events.close();
        await http.close();
      });
      const where = await http.start();
      this.httpUrl = where.url;
      serveHttp = () => {
        http.open();
        this.log.info("HTTP API listening", { url: where.url });
      };
    }

    await this.gallery.load();
    for (const s of this.gallery.status) {
      if (s.ok) this.log.info("gallery loaded", { gallery: s.name, entries: s.entries });
      else this.log.warn("gallery not loaded", { gallery: s.name, error: s.error, entriesInUse: s.entries });
    }
    const refresh = new Periodic({
      intervalMs: this.timings.galleryRefreshMs,
      run: () => this.gallery.load(),
    });
    refresh.start();
    // A load in flight is not waited for; it arms nothing once stopped.
    this.stops.push(() => void refresh.stop());

    await this.view.start();
    this.stops.push(() => this.view.stop());
    this.stops.push(serveNatsApi(this.o.client, this.api, this.telemetry));
    serveHttp();

    this.lease.onChange((leader) => void this.duties.follow(leader));
    await untilJetStream("the leases bucket", () => this.lease.start(), { log: this.log });
    this.log.info("controller replica started", { leader: this.lease.isLeader() });
  }

  /** Reload the galleries now (the API keeps serving the last good copy if they fail). */
  async reloadGallery(): Promise<GalleryStatus[]> {
    await this.gallery.load();
    return this.gallery.status;
  }

  /**
   * Stop serving. A graceful stop releases the lease so another replica leads at once;
   * `release: false` leaves it to expire, as a crash would.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    // The duties stop with the lease; work still in flight is not waited for (it stops itself).
    await this.lease.stop(opts.release ?? true);
    for (const s of this.stops.splice(0).reverse()) {
      try {
        await s();
      } catch (e) {
        this.log.warn("error while stopping", { error: errorMessage(e) });
      }
    }
  }
}
