import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { ClusterClient, type ClusterClientOptions } from "../client/cluster-client.js";
import { WorkQueue } from "../client/work-queue.js";
import { untilJetStream } from "../client/startup.js";
import { errorMessage, silentLogger, type Logger } from "../lib/log.js";
import { StatusServer, type ReadinessCheck } from "../lib/status-endpoints.js";
import type { Credentials } from "../oci/auth.js";
import { RegistryClient } from "../oci/registry-client.js";
import type { RetryAfterLimits } from "../oci/retry-after.js";
import { DEFAULT_KEEP_GENERATIONS, HEARTBEAT_INTERVAL_MS, NodeId, type GpuInfo } from "../protocol/index.js";
import { BlobCache } from "./blob-cache.js";
import { detectCapability, type CapabilityProbe } from "./capability.js";
import { diskSpace } from "./disk.js";
import { Executor } from "./executor.js";
import { DEFAULT_LIMITS, type ExtractLimits } from "./extract.js";
import { BackendStore, type StepHook } from "./generations.js";
import { HeartbeatPublisher } from "./heartbeat.js";
import type { HookConfig } from "./hooks.js";
import { Installer } from "./installer.js";
import { InventoryPublisher } from "./inventory.js";
import { NameLocks, Slots } from "./locks.js";
import { AgentMetrics } from "./metrics.js";
import { DEFAULT_PROBE_TIMEOUT_MS, reapOrphanedProbes, type ProbeConfig } from "./probe.js";
import { RateLimiter } from "./rate-limit.js";
import { systemProbe } from "./system-probe.js";
import { Worker } from "./worker.js";

export const DEFAULT_MAX_PARALLEL = 2;
export const DEFAULT_DISK_MARGIN = 256 * 1024 * 1024;
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

export interface AgentOptions {
  nodeId: string;
  /** Shown in the dashboard; default the host name. */
  nodeName?: string;
  backendsDir: string;
  connection: ClusterClientOptions;
  /** Forced capability (--capability / BACKPLANE_CAPABILITY). */
  capability?: string;
  capabilityFile?: string;
  maxParallel?: number;
  keepGenerations?: number;
  /** Download budget for the whole agent, bytes per second. */
  rateLimit?: number;
  insecureRegistries?: string[];
  registryCredentials?: (registry: string) => Credentials | undefined;
  heartbeatMs?: number;
  labels?: Record<string, string>;
  limits?: Partial<ExtractLimits>;
  diskMarginBytes?: number;
  fsync?: boolean;
  agentVersion?: string;
  /** Resume attempts after a dropped connection, and the stall timeout (default 30 s). */
  retries?: number;
  stallMs?: number;
  /** Limit on each manifest and token request (default 30 s). */
  requestTimeoutMs?: number;
  /** Bounds on waiting out 429/503 answers with Retry-After. */
  retryAfter?: RetryAfterLimits;
  /** Bound on the blob cache (`<backends-dir>/.blobs`); default twice the largest image, 0 = off. */
  blobCacheMaxBytes?: number;
  probe?: CapabilityProbe;
  /** Health probe of each new version before it goes live; default LocalAI's gRPC Health, 60 s. */
  healthProbe?: ProbeConfig;
  /** --on-activate / --on-delete hooks, their timeout and failure policy; default none. */
  hooks?: HookConfig;
  freeBytes?: (path: string) => Promise<number>;
  /**
   * Serve /healthz, /readyz and /metrics on `listen` (host:port); `token` guards /metrics and is
   * required beyond loopback.
   */
  http?: { listen: string; token?: string };
  /** Test seam: crash points in the commit sequence. */
  onStep?: StepHook;
  log?: Logger;
}

/**
 * The worker agent of one node, startable in-process: connects, recovers the backends dir from any
 * crash, reports capability, heartbeat and inventory, listens for cancels and runs its work queue.
 */
export class Agent {
  readonly nodeId: string;
  readonly store: BackendStore;
  readonly metrics = new AgentMetrics();
  /** Where the status endpoints listen, once started with `http`. */
  httpUrl?: string;
  readonly blobs: BlobCache;
  private readonly log: Logger;
  private status?: StatusServer;
  private unsubscribeStatus?: () => void;
  private client?: ClusterClient;
  private worker?: Worker;
  private heartbeat?: HeartbeatPublisher;
  private inventory?: InventoryPublisher;
  private unsubscribeCancel?: () => void;
  private detected?: { capability: string; gpu: GpuInfo; reason: string };
  private stopped?: Promise<void>;

  constructor(private readonly o: AgentOptions) {
    const id = NodeId.safeParse(o.nodeId);
    if (!id.success)
      throw new Error(`invalid node id ${JSON.stringify(o.nodeId)}: use [A-Za-z0-9_-], at most 64`);
    this.nodeId = o.nodeId;
    this.log = (o.log ?? silentLogger).child({ node: o.nodeId });
    this.store = new BackendStore({
      root: o.backendsDir,
      keep: o.keepGenerations ?? DEFAULT_KEEP_GENERATIONS,
      fsync: o.fsync ?? true,
      log: this.log,
      onStep: o.onStep,
    });
    this.metrics.watch({
      ops: () => ({ running: this.worker?.runningOps ?? 0, waiting: this.worker?.waitingOps ?? 0 }),
      backendsDir: this.store.root,
      natsConnected: () => this.client?.status.state === "connected",
    });
    this.blobs = new BlobCache({
      dir: join(o.backendsDir, ".blobs"),
      maxBytes: o.blobCacheMaxBytes,
      log: this.log,
    });
  }

  /** Process groups of running health probes and hooks (private, next to the generations). */
  private get probePids(): string {
    return join(this.store.root, ".probes");
  }

  get capability(): string | undefined {
    return this.detected?.capability;
  }

  get cluster(): ClusterClient {
    if (!this.client) throw new Error("agent not started");
    return this.client;
  }

  /** What /readyz checks: NATS connected, the work consumer bound, the backends dir writable. */
  readonly readinessChecks: readonly ReadinessCheck[] = [
    {
      name: "nats",
      check: () => {
        const s = this.client?.status;
        return s?.state === "connected" ? undefined : `NATS is ${s?.state ?? "not connected yet"}`;
      },
    },
    {
      name: "work-consumer",
      check: () => (this.worker?.consuming ? undefined : "not pulling work from this node's consumer"),
    },
    {
      name: "backends-dir",
      check: () =>
        access(this.store.root, constants.W_OK).then(
          () => undefined,
          (e: NodeJS.ErrnoException) => `${this.store.root} is not writable (${e.code ?? errorMessage(e)})`,
        ),
    },
  ];

  /** Serve the status endpoints first: /readyz says why while NATS is still out of reach. */
  private async serveStatus(): Promise<void> {
    const http = this.o.http;
    if (!http) return;
    this.status = new StatusServer({
      listen: http.listen,
      token: http.token,
      registry: this.metrics.withProcessMetrics().registry,
      checks: this.readinessChecks,
      log: this.log,
    });
    this.httpUrl = (await this.status.start()).url;
    this.log.info("status endpoints listening", { url: this.httpUrl, metricsToken: !!http.token });
  }

  /** Count the times the NATS connection comes back. */
  private countReconnects(client: ClusterClient): void {
    let last = client.status.state;
    this.unsubscribeStatus = client.onStatus((s) => {
      if (s.state === "connected" && last !== "connected") this.metrics.natsReconnects.inc();
      last = s.state;
    });
  }

  async start(signal?: AbortSignal): Promise<void> {
    const o = this.o;
    await this.serveStatus();
    await reapOrphanedProbes(this.probePids, this.log);
    await this.store.init();
    await this.blobs.init();
    this.detected = await detectCapability(o.probe ?? systemProbe(), {
      forced: o.capability,
      forcedFile: o.capabilityFile,
    });
    this.log.info("capability", { capability: this.detected.capability, reason: this.detected.reason });
    const client = await ClusterClient.connect(
      {
        name: `agent-${this.nodeId}`,
        attachOnly: { workConsumer: WorkQueue.durableName(this.nodeId) },
        ...o.connection,
      },
      signal,
    );
    this.client = client;
    this.countReconnects(client);

    const limiter = o.rateLimit ? new RateLimiter(o.rateLimit) : undefined;
    const registry = new RegistryClient({
      credentials: o.registryCredentials,
      insecureRegistries: o.insecureRegistries,
      userAgent: `backplane-agent/${o.agentVersion ?? "dev"}`,
      requestTimeoutMs: o.requestTimeoutMs,
      retryAfter: o.retryAfter,
    });
    const installer = new Installer({
      store: this.store,
      sources: {
        registry,
        insecureHosts: o.insecureRegistries ?? [],
        throttle: limiter?.take,
        log: this.log,
        retries: o.retries,
        stallMs: o.stallMs ?? DEFAULT_STALL_TIMEOUT_MS,
        requestTimeoutMs: o.requestTimeoutMs,
        retryAfter: o.retryAfter,
        blobs: this.blobs,
      },
      limits: { ...DEFAULT_LIMITS, ...o.limits },
      diskMarginBytes: o.diskMarginBytes ?? DEFAULT_DISK_MARGIN,
      freeBytes: o.freeBytes ?? (async (p) => (await diskSpace(p)).freeBytes),
      probe: {
        ...(o.healthProbe ?? { mode: "grpc", timeoutMs: DEFAULT_PROBE_TIMEOUT_MS }),
        pidDir: this.probePids,
      },
      log: this.log,
      metrics: this.metrics,
    });
    const executor = new Executor({
      store: this.store,
      installer,
      log: this.log,
      hooks: o.hooks && { ...o.hooks, pidDir: this.probePids },
    });
    this.inventory = new InventoryPublisher(client, this.store, this.nodeId, this.log, this.metrics);
    const inventory = this.inventory;
    // A cluster that has just started may have no stream leaders yet: wait, do not exit.
    const retry = { log: this.log, signal };
    await untilJetStream(
      "the inventory bucket (publishing this node's backends)",
      () => inventory.publish(),
      retry,
    );

    this.worker = new Worker({
      client,
      nodeId: this.nodeId,
      executor,
      locks: new NameLocks(),
      slots: new Slots(o.maxParallel ?? DEFAULT_MAX_PARALLEL),
      log: this.log,
      changed: () => this.inventory!.publish(),
      metrics: this.metrics,
    });
    this.unsubscribeCancel = client.onCancel(this.nodeId, (c) => void this.worker?.cancel(c.opId));
    const worker = this.worker;
    await untilJetStream("the work stream (creating this node's consumer)", () => worker.start(), retry);

    this.heartbeat = new HeartbeatPublisher({
      client,
      nodeId: this.nodeId,
      name: o.nodeName,
      capability: this.detected.capability,
      gpu: this.detected.gpu,
      backendsDir: o.backendsDir,
      agentVersion: o.agentVersion ?? "dev",
      labels: o.labels ?? {},
      runningOps: () => this.worker?.runningOps ?? 0,
      intervalMs: o.heartbeatMs ?? HEARTBEAT_INTERVAL_MS,
      log: this.log,
      metrics: this.metrics,
    });
    this.heartbeat.start();
    this.log.info("agent started", {
      backendsDir: o.backendsDir,
      maxParallel: o.maxParallel ?? DEFAULT_MAX_PARALLEL,
    });
  }

  /** Stop taking work, stop downloads (swaps under way finish), drain NATS. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.heartbeat?.stop();
      await this.worker?.stop().catch((e) => this.log.warn("worker stop", { error: errorMessage(e) }));
      this.unsubscribeCancel?.();
      this.unsubscribeStatus?.();
      await this.client?.close();
      await this.status?.close();
      this.log.info("agent stopped");
    })();
    return this.stopped;
  }
}
