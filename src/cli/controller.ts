import { homedir } from "node:os";
import { join } from "node:path";
import { Controller, type ControllerOptions } from "../controller/controller.js";
import type { ControllerTimings, DeepPartial } from "../controller/config.js";
import { parseGallerySources } from "../gallery/index.js";
import { RegistryClient } from "../oci/index.js";
import { telemetryOf } from "../lib/telemetry.js";
import {
  CONNECTION_HELP,
  connectionFlags,
  envBacked,
  int,
  list,
  LOG_HELP,
  logFlags,
  loggerFrom,
  noPositionals,
  parse,
  parseBytes,
  parseDuration,
  printedHelp,
  str,
  UsageError,
} from "./args.js";
import { clientOptions } from "./connect.js";
import { onStopSignal } from "./stop-signal.js";
import { ClusterClient } from "../client/index.js";

// `--token` is the HTTP bearer token here; the NATS token moves to `--nats-token`.
const { token: _natsToken, ...natsFlags } = connectionFlags;

export const flags = {
  ...natsFlags,
  ...logFlags,
  ...envBacked({
    "nats-token": { type: "string" },
    gallery: { type: "string", multiple: true },
    "gallery-cache": { type: "string" },
    "dev-suffix": { type: "string" },
    http: { type: "string" },
    token: { type: "string" },
    "http-token-file": { type: "string" },
    "http-host": { type: "string", multiple: true },
    "ws-max-clients": { type: "string" },
    "ws-max-per-address": { type: "string" },
    "ws-max-buffer": { type: "string" },
    "require-approval": { type: "boolean" },
    id: { type: "string" },
    "insecure-registry": { type: "string", multiple: true },
    "heartbeat-interval": { type: "string" },
    "unhealthy-after-missed": { type: "string" },
    "offline-after": { type: "string" },
    "health-tick": { type: "string" },
    "offline-grace": { type: "string" },
    "stale-op": { type: "string" },
    "orphan-after": { type: "string" },
    "reap-interval": { type: "string" },
    "rollout-interval": { type: "string" },
    "op-retention": { type: "string" },
    "check-interval": { type: "string" },
    "check-debounce": { type: "string" },
    "gallery-refresh": { type: "string" },
    "lease-ttl": { type: "string" },
    "events-max-bytes": { type: "string" },
  } as const),
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `Usage: backplane controller --gallery PATH_OR_URL[,...] [flags]

Runs one controller replica. Start several with the same flags for high availability: every
replica serves the API; the lease holder also runs the health monitor, the reaper and the
upgrade checker (and auto-upgrade when it is turned on in settings).

Controller (each also from the env var in brackets):
  --gallery SRC[,SRC]      [BACKPLANE_GALLERY] LocalAI backend index.yaml files or http(s) URLs,
                           optionally named: name=SRC (first gallery wins a name)
  --gallery-cache DIR      [BACKPLANE_GALLERY_CACHE] last good gallery copies,
                           default ~/.cache/backplane/gallery
  --dev-suffix S           [BACKPLANE_DEV_SUFFIX] development variant suffix, default development
  --http HOST:PORT         [BACKPLANE_HTTP] also serve the API over HTTP (+ /api/events WebSocket),
                           and GET /healthz, /readyz (no token) and /metrics (Prometheus, token)
  --token T                [BACKPLANE_TOKEN] bearer token for HTTP; required beyond loopback.
                           Without it the token is read from, or generated into, --http-token-file
  --http-token-file F      [BACKPLANE_HTTP_TOKEN_FILE] mode 0600, default
                           $XDG_RUNTIME_DIR/backplane/http-token, else $STATE_DIRECTORY/http-token,
                           else ~/.local/state/backplane/http-token
  --http-host NAME         [BACKPLANE_HTTP_HOST] a name clients use in Host besides the listener's
                           address (and localhost on loopback); repeatable or comma-separated
  --ws-max-clients N       [BACKPLANE_WS_MAX_CLIENTS] /api/events sockets in total, default 256
  --ws-max-per-address N   [BACKPLANE_WS_MAX_PER_ADDRESS] sockets from one address, default 16
  --ws-max-buffer N        [BACKPLANE_WS_MAX_BUFFER] bytes queued for a slow socket before it is
                           dropped, default 8M
  --require-approval       [BACKPLANE_REQUIRE_APPROVAL] new nodes wait in pending until approved
  --id ID                  [BACKPLANE_ID] replica id, default host-pid-random
  --insecure-registry H:P  [BACKPLANE_INSECURE_REGISTRY] plain-HTTP registry for digest checks
  --nats-token T           [BACKPLANE_NATS_TOKEN] NATS token auth (--token is HTTP's here)
  --events-max-bytes N     [BACKPLANE_EVENTS_MAX_BYTES] audit stream size cap: the stream is created
                           or resized to it (default: created at 1G, left as it is); JetStream
                           reserves it, so keep it under the server's max_file_store

Timings (durations: 500ms, 5s, 15m, 6h; a bare number is seconds):
  --heartbeat-interval D   agents' heartbeat period, default 5s
  --unhealthy-after-missed N   missed heartbeats before unhealthy, default 3
  --offline-after D        silence before offline, default 60s
  --health-tick D          how often health is evaluated, default 1s
  --offline-grace D        queued work for an offline node waits this long, default 15m
  --stale-op D             active op with no update is failed after, default 30m
  --orphan-after D         queued op without a work message is re-published after, default 30s
  --reap-interval D        reaper period, default 30s
  --rollout-interval D     pause between the leader's passes over running rollouts, default 1s
  --op-retention D         finished ops stay in the ops bucket this long, default 24h
  --check-interval D       upgrade check period (overrides settings), default 6h
  --check-debounce D       coalesce checks after op/inventory changes, default 2s
  --gallery-refresh D      gallery reload period, default 1h
  --lease-ttl D            leader lease length (when creating the bucket), default 10s

${LOG_HELP}

${CONNECTION_HELP.replace(/\n {2}--token T .*$/m, "")}
`;

export function timingsFromFlags(v: Record<string, unknown>): DeepPartial<ControllerTimings> {
  const d = (n: string) => parseDuration(v[n], n);
  const t: DeepPartial<ControllerTimings> = {
    healthTickMs: d("health-tick"),
    reapIntervalMs: d("reap-interval"),
    rolloutIntervalMs: d("rollout-interval"),
    upgradeCheckIntervalMs: d("check-interval"),
    checkDebounceMs: d("check-debounce"),
    galleryRefreshMs: d("gallery-refresh"),
    health: {
      heartbeatIntervalMs: d("heartbeat-interval"),
      unhealthyAfterMissed: int(v["unhealthy-after-missed"], "unhealthy-after-missed", 1),
      offlineAfterMs: d("offline-after"),
    },
    reap: {
      offlineGraceMs: d("offline-grace"),
      staleOpMs: d("stale-op"),
      orphanAfterMs: d("orphan-after"),
      retentionMs: d("op-retention"),
    },
  };
  const strip = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
  return { ...strip(t), health: strip(t.health ?? {}), reap: strip(t.reap ?? {}) };
}

export function httpFromFlags(v: Record<string, unknown>): ControllerOptions["http"] {
  const listen = str(v.http);
  if (!listen) return undefined;
  const events = {
    maxClients: int(v["ws-max-clients"], "ws-max-clients", 1),
    maxPerAddress: int(v["ws-max-per-address"], "ws-max-per-address", 1),
    maxBufferedBytes: parseBytes(v["ws-max-buffer"], "ws-max-buffer"),
  };
  if (events.maxBufferedBytes !== undefined && events.maxBufferedBytes < 1024)
    throw new UsageError("--ws-max-buffer must be at least 1K");
  return {
    listen,
    token: str(v.token) || undefined,
    tokenFile: str(v["http-token-file"]),
    hosts: list(v["http-host"]),
    events: Object.fromEntries(Object.entries(events).filter(([, x]) => x !== undefined)),
  };
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, flags);
  if (printedHelp(p, HELP)) return 0;
  noPositionals(p);
  const v = p.values;
  const galleries = parseGallerySources(list(v.gallery));
  if (galleries.length === 0)
    throw new UsageError("--gallery is required (a LocalAI backend index.yaml path or URL)");
  const timings = timingsFromFlags(v);
  const leaseTtlMs = parseDuration(v["lease-ttl"], "lease-ttl");
  const log = loggerFrom(p, { role: "controller" });
  const opts = clientOptions({ ...p, values: { ...v, token: v["nats-token"] } }, "backplane-controller", log);
  const eventsMaxBytes = parseBytes(v["events-max-bytes"], "events-max-bytes");
  if (eventsMaxBytes !== undefined && eventsMaxBytes < 1024 * 1024)
    throw new UsageError("--events-max-bytes must be at least 1M");
  const client = await ClusterClient.connect({ ...opts, leaseTtlMs, eventsMaxBytes });
  const insecure = list(v["insecure-registry"]);
  const ctl = await Controller.start({
    client,
    id: str(v.id),
    galleries,
    galleryCacheDir:
      str(v["gallery-cache"]) ??
      join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "backplane", "gallery"),
    devSuffix: str(v["dev-suffix"]),
    http: httpFromFlags(v),
    requireApproval: v["require-approval"] === true,
    timings,
    registry: new RegistryClient({ insecureRegistries: insecure }),
    replicas: opts.replicas,
    telemetry: telemetryOf(log),
  }).catch(async (e) => {
    await client.close();
    throw e;
  });
  log.info("controller ready", {
    id: ctl.id,
    http: ctl.httpUrl,
    galleries: ctl.galleryStatus.map((g) => `${g.name}:${g.entries}`),
  });

  let offSignals = () => {};
  await new Promise<void>((resolve) => (offSignals = onStopSignal(log, resolve)));
  await ctl.stop();
  await client.close();
  offSignals();
  return 0;
}
