import { writeFile } from "node:fs/promises";
import { afterAll, afterEach, beforeAll } from "vitest";
import { join } from "node:path";
import { ClusterClient } from "../../src/client/index.js";
import { silentLogger, createLogger, type Logger } from "../../src/lib/log.js";
import { telemetryOf, type Telemetry } from "../../src/lib/telemetry.js";
import type { ControllerTimings, DeepPartial } from "../../src/controller/config.js";
import { Controller, type ControllerOptions } from "../../src/controller/controller.js";
import { NatsServer, type NatsServerOptions } from "../harness/nats-server.js";
import { removeDir, tempDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";

/** Short timers so tests exercise health, reaping and leases in well under a second. */
export const FAST: DeepPartial<ControllerTimings> = {
  healthTickMs: 40,
  reapIntervalMs: 150,
  checkDebounceMs: 50,
  checkTimeoutMs: 3_000,
  claimSettleMs: 300,
  upgradeCheckIntervalMs: 60 * 60_000,
  health: { heartbeatIntervalMs: 100, unhealthyAfterMissed: 3, slackMs: 150, offlineAfterMs: 900 },
  reap: {
    offlineGraceMs: 1_500,
    staleOpMs: 60_000,
    orphanAfterMs: 300,
    cancelResendMs: 300,
    retentionMs: 60 * 60_000,
  },
};

export const LEASE_TTL_MS = 1_500;

/** A nats-server for a whole test file; its file-store limit lets many prefixes share it. */
export function startNats(o: NatsServerOptions = {}): Promise<NatsServer> {
  return NatsServer.start(o);
}

let seq = 0;
/** A prefix per test keeps tests on one server apart (subjects, buckets, streams). */
export const uniquePrefix = (): string => `t${process.pid}x${seq++}`;

export const testLogger = (): Logger =>
  process.env.BP_TEST_LOG ? createLogger({}, { level: "debug" }) : silentLogger;

export const testTelemetry = (): Telemetry => telemetryOf(testLogger());

export async function connect(
  url: string,
  prefix: string,
  name = "test",
  leaseTtlMs = LEASE_TTL_MS,
): Promise<ClusterClient> {
  return ClusterClient.connect({
    servers: [url],
    prefix,
    name,
    leaseTtlMs,
    logger: testLogger(),
  });
}

export async function writeGallery(dir: string, yaml: string, name = "gallery.yaml"): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, yaml);
  return path;
}

export interface Replica {
  ctl: Controller;
  client: ClusterClient;
  /** Graceful stop (releases the lease). */
  stop(): Promise<void>;
  /** Die like SIGKILL: no lease release, connection dropped. */
  crash(): Promise<void>;
}

export async function startReplica(
  url: string,
  prefix: string,
  o: Partial<ControllerOptions> & { galleryPath?: string } = {},
): Promise<Replica> {
  const client = await connect(url, prefix, "controller");
  const { galleryPath, timings, ...rest } = o;
  const ctl = await Controller.start({
    client,
    galleries: galleryPath ? [{ name: "test", url: galleryPath }] : [],
    telemetry: testTelemetry(),
    ...rest,
    timings: {
      ...FAST,
      ...timings,
      health: { ...FAST.health, ...timings?.health },
      reap: { ...FAST.reap, ...timings?.reap },
    },
  });
  let done = false;
  return {
    ctl,
    client,
    async stop() {
      if (done) return;
      done = true;
      await ctl.stop();
      await client.close();
    },
    async crash() {
      if (done) return;
      done = true;
      await ctl.stop({ release: false });
      await client.close();
    },
  };
}

export async function waitLeader(replicas: Replica[], timeoutMs = 10_000): Promise<Replica> {
  return waitFor("a leader", () => replicas.find((r) => r.ctl.isLeader()), timeoutMs);
}

export interface ControllerSuite {
  /** One nats-server for the file; tests keep apart by prefix. */
  readonly nats: NatsServer;
  /** A temp dir for the file, removed after it. */
  readonly dir: string;
  /** The gallery written at the start, when the suite was given one. */
  readonly galleryPath: string;
  /** A docker-registry for the file, when asked for. */
  readonly registry: Registry;
  /** Undo this after the current test; the last deferred runs first. */
  defer(undo: () => Promise<unknown>): void;
}

/**
 * What every controller test file needs, started once per file (call it at the top level): a
 * nats-server, a temp dir with an optional gallery, optionally a registry, and per-test cleanup.
 */
export function controllerSuite(
  name: string,
  o: { gallery?: string; registry?: boolean; nats?: NatsServerOptions } = {},
): ControllerSuite {
  const undo: Array<() => Promise<unknown>> = [];
  let started: { nats: NatsServer; dir: string; galleryPath: string; registry?: Registry } | undefined;
  const get = () => {
    if (!started) throw new Error("controllerSuite: used outside a test (its beforeAll has not run)");
    return started;
  };
  beforeAll(async () => {
    const [nats, registry, dir] = await Promise.all([
      startNats(o.nats),
      o.registry ? Registry.start() : undefined,
      tempDir(name),
    ]);
    const galleryPath = o.gallery === undefined ? "" : await writeGallery(dir, o.gallery);
    started = { nats, dir, galleryPath, registry };
  });
  afterEach(async () => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => {});
  });
  afterAll(async () => {
    if (!started) return;
    await Promise.all([started.nats.dispose(), started.registry?.dispose()]);
    await removeDir(started.dir);
  });
  return {
    get nats() {
      return get().nats;
    },
    get dir() {
      return get().dir;
    },
    get galleryPath() {
      return get().galleryPath;
    },
    get registry() {
      const r = get().registry;
      if (!r) throw new Error("controllerSuite: started without { registry: true }");
      return r;
    },
    defer: (u) => undo.push(u),
  };
}
