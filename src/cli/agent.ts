import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Agent, DEFAULT_STALL_TIMEOUT_MS } from "../agent/agent.js";
import { DEFAULT_HOOK_TIMEOUT_MS, HOOK_FAILURE_POLICIES } from "../agent/hooks.js";
import { DEFAULT_PROBE_TIMEOUT_MS, PROBE_MODES } from "../agent/probe.js";
import { defaultDockerConfig, loadRegistryAuth } from "../agent/registry-auth.js";
import { readPrivateToken } from "../lib/http-token.js";
import { statusListenProblem } from "../lib/status-endpoints.js";
import { onStopSignal } from "./stop-signal.js";
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
  oneOf,
  parse,
  parseBytes,
  parseDuration,
  printedHelp,
  str,
  UsageError,
} from "./args.js";
import { clientOptions } from "./connect.js";
import { VERSION } from "./version.js";

export const flags = {
  ...connectionFlags,
  ...logFlags,
  ...envBacked({
    "node-id": { type: "string" },
    "node-name": { type: "string" },
    "backends-dir": { type: "string" },
    capability: { type: "string" },
    "capability-file": { type: "string" },
    "max-parallel": { type: "string" },
    "keep-generations": { type: "string" },
    "rate-limit": { type: "string" },
    "insecure-registry": { type: "string", multiple: true },
    "registry-auth": { type: "string" },
    "stall-timeout": { type: "string" },
    "registry-timeout": { type: "string" },
    "blob-cache-max": { type: "string" },
    "heartbeat-interval": { type: "string" },
    label: { type: "string", multiple: true },
    "max-extract-bytes": { type: "string" },
    "max-extract-entries": { type: "string" },
    "disk-margin": { type: "string" },
    "no-fsync": { type: "boolean" },
    probe: { type: "string" },
    "probe-timeout": { type: "string" },
    "probe-command": { type: "string" },
    "on-activate": { type: "string" },
    "on-delete": { type: "string" },
    "hook-timeout": { type: "string" },
    "hook-failure": { type: "string" },
    http: { type: "string" },
    "http-token": { type: "string" },
    "http-token-file": { type: "string" },
  } as const),
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `Usage: backplane agent [flags]

Runs the worker agent of this node: installs, upgrades, reinstalls, deletes and rolls back the
backends in --backends-dir as the controller asks, with live progress, heartbeat and inventory.

Agent (each also from the env var in brackets):
  --node-id ID              [BACKPLANE_NODE_ID] default: the host name, sanitised to [A-Za-z0-9_-]
  --node-name NAME          [BACKPLANE_NODE_NAME] shown in the dashboard, default the host name
  --backends-dir DIR        [BACKPLANE_BACKENDS_DIR] default /var/lib/backplane/backends
  --capability X            [BACKPLANE_CAPABILITY] force the capability (else detected)
  --capability-file F       [BACKPLANE_CAPABILITY_FILE] file with a forced capability,
                            default /run/backplane/capability
  --max-parallel N          [BACKPLANE_MAX_PARALLEL] backends installed at once, default 2
  --keep-generations N      [BACKPLANE_KEEP_GENERATIONS] previous versions kept, default 2
  --rate-limit BYTES/S      [BACKPLANE_RATE_LIMIT] download budget, e.g. 500000, 10M (MiB/s)
  --insecure-registry H:P   [BACKPLANE_INSECURE_REGISTRY] allow plain HTTP to this registry
                            (loopback registries always may); repeatable or comma-separated
  --registry-auth FILE      [BACKPLANE_REGISTRY_AUTH] Docker config.json with registry
                            credentials, default ~/.docker/config.json when it exists
  --stall-timeout D         [BACKPLANE_STALL_TIMEOUT] a download that receives no byte for this
                            long is ended and resumed (Range), default 30s
  --registry-timeout D      [BACKPLANE_REGISTRY_TIMEOUT] how long a manifest or token request
                            may take, answer and body, default 30s
  --blob-cache-max BYTES    [BACKPLANE_BLOB_CACHE_MAX] bound on the downloaded layers kept in
                            <backends-dir>/.blobs so that a retried op resumes them, e.g. 20G;
                            default twice the largest image seen, 0 turns the cache off
  --heartbeat-interval D    [BACKPLANE_HEARTBEAT_INTERVAL] e.g. 5s, 500ms, default 5s
  --label K=V               [BACKPLANE_LABEL] node labels, repeatable or comma-separated
  --max-extract-bytes N     [BACKPLANE_MAX_EXTRACT_BYTES] cap on unpacked bytes, default the
                            free space of the backends dir less the margin
  --max-extract-entries N   [BACKPLANE_MAX_EXTRACT_ENTRIES] cap on archive entries, default 1000000
  --disk-margin N           [BACKPLANE_DISK_MARGIN] free space kept besides 2x the download,
                            and kept while unpacking (checked as bytes are written), 256M
  --no-fsync                [BACKPLANE_NO_FSYNC] skip flushing new versions to disk (faster,
                            not safe against power loss)
  --probe grpc|exec|none    [BACKPLANE_PROBE] health probe of a new version before it goes live,
                            default grpc: start run.sh --addr 127.0.0.1:PORT as LocalAI does and
                            wait for backend.Backend/Health to answer "OK"
  --probe-timeout D         [BACKPLANE_PROBE_TIMEOUT] how long the probe may take, default 60s
  --probe-command CMD       [BACKPLANE_PROBE_COMMAND] with --probe exec: a shell command run in
                            the new version's directory; exit 0 passes
  --on-activate CMD         [BACKPLANE_ON_ACTIVATE] shell command run (/bin/sh -c) after a
                            backend went live here (install, upgrade, reinstall, rollback), with
                            BACKPLANE_BACKEND, _VERSION, _DIGEST, _PATH, _PREVIOUS_VERSION,
                            _OP_ID, _OP_KIND in its environment
  --on-delete CMD           [BACKPLANE_ON_DELETE] shell command run after a backend was deleted
  --hook-timeout D          [BACKPLANE_HOOK_TIMEOUT] a hook still running then is killed (its
                            whole process group), default 60s
  --hook-failure P          [BACKPLANE_HOOK_FAILURE] warn (default: record it, the op succeeds)
                            or rollback (put the previous version back, fail the op)

Status endpoints (read-only; default off):
  --http HOST:PORT          [BACKPLANE_HTTP] serve GET /healthz, /readyz (NATS connected, work
                            consumer bound, backends dir writable; 503 naming what is not) and
                            /metrics (Prometheus text); loopback only unless a token is set
  --http-token T            [BACKPLANE_HTTP_TOKEN] bearer token /metrics requires (Prometheus
                            authorization credentials); needed to bind beyond loopback
  --http-token-file F       [BACKPLANE_HTTP_TOKEN_FILE] read the token from this file instead:
                            one line of 32+ characters (openssl rand -hex 32), a regular file
                            of the agent's user, mode 0600 (checked as the controller's is)

${LOG_HELP}

${CONNECTION_HELP}
`;

export function defaultNodeId(host = hostname()): string {
  const id = host.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64);
  return id || "node";
}

export function labels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of values) {
    const i = l.indexOf("=");
    if (i <= 0) throw new UsageError(`--label must be KEY=VALUE, got ${l}`);
    const [key, value] = [l.slice(0, i), l.slice(i + 1)];
    if (key.length > 63 || value.length > 256) {
      throw new UsageError(`--label ${key}: keys are at most 63 characters, values at most 256`);
    }
    out[key] = value;
  }
  if (Object.keys(out).length > 64) throw new UsageError("at most 64 --label values");
  return out;
}

/** `--http` with its token (from `--http-token` or `--http-token-file`), checked before starting. */
export async function statusHttp(
  v: Record<string, unknown>,
): Promise<{ listen: string; token?: string } | undefined> {
  const listen = str(v.http);
  const file = str(v["http-token-file"]);
  if (file && str(v["http-token"])) throw new UsageError("give --http-token or --http-token-file, not both");
  let token = str(v["http-token"]);
  if (file) {
    // The controller's own check: a token others could read or write is not a secret.
    const read = await readPrivateToken(file);
    if ("problem" in read) throw new UsageError(`--http-token-file ${file}: ${read.problem}`);
    token = read.token;
  }
  if (!listen) {
    if (token) throw new UsageError("--http-token needs --http HOST:PORT");
    return undefined;
  }
  const problem = statusListenProblem(listen, token);
  if (problem) throw new UsageError(problem);
  return { listen, token };
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, flags);
  if (printedHelp(p, HELP)) return 0;
  noPositionals(p);
  const v = p.values;
  const log = loggerFrom(p, { role: "agent" });
  const authFile =
    str(v["registry-auth"]) ?? (existsSync(defaultDockerConfig()) ? defaultDockerConfig() : undefined);
  let auth = new Map<string, { username: string; password: string }>();
  if (authFile) {
    try {
      auth = await loadRegistryAuth(authFile);
    } catch (e) {
      throw new UsageError(`cannot read registry credentials from ${authFile}: ${(e as Error).message}`);
    }
  }
  const probeMode = oneOf(v.probe, "probe", PROBE_MODES) ?? "grpc";
  const probeCommand = str(v["probe-command"]);
  if (probeMode === "exec" && !probeCommand) throw new UsageError("--probe exec needs --probe-command");
  if (probeMode !== "exec" && probeCommand) throw new UsageError("--probe-command needs --probe exec");
  const onActivate = str(v["on-activate"]);
  const onDelete = str(v["on-delete"]);
  const hookTimeoutMs = parseDuration(v["hook-timeout"], "hook-timeout", 100) ?? DEFAULT_HOOK_TIMEOUT_MS;
  const hookFailure = oneOf(v["hook-failure"], "hook-failure", HOOK_FAILURE_POLICIES) ?? "warn";
  const maxBytes = parseBytes(v["max-extract-bytes"], "max-extract-bytes");
  const maxEntries = int(v["max-extract-entries"], "max-extract-entries", 1);
  const http = await statusHttp(v);
  const agent = new Agent({
    nodeId: str(v["node-id"]) ?? defaultNodeId(),
    nodeName: str(v["node-name"]),
    backendsDir: resolve(str(v["backends-dir"]) ?? "/var/lib/backplane/backends"),
    connection: clientOptions(p, "agent", log),
    capability: str(v.capability),
    capabilityFile: str(v["capability-file"]),
    maxParallel: int(v["max-parallel"], "max-parallel", 1),
    keepGenerations: int(v["keep-generations"], "keep-generations", 0),
    rateLimit: parseBytes(v["rate-limit"], "rate-limit"),
    insecureRegistries: list(v["insecure-registry"]),
    registryCredentials: (host) => auth.get(host),
    stallMs: parseDuration(v["stall-timeout"], "stall-timeout", 100) ?? DEFAULT_STALL_TIMEOUT_MS,
    requestTimeoutMs: parseDuration(v["registry-timeout"], "registry-timeout", 100),
    blobCacheMaxBytes: parseBytes(v["blob-cache-max"], "blob-cache-max"),
    heartbeatMs: parseDuration(v["heartbeat-interval"], "heartbeat-interval", 100),
    labels: labels(list(v.label)),
    limits: {
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      ...(maxEntries !== undefined ? { maxEntries } : {}),
    },
    diskMarginBytes: parseBytes(v["disk-margin"], "disk-margin"),
    fsync: !v["no-fsync"],
    healthProbe: {
      mode: probeMode,
      timeoutMs: parseDuration(v["probe-timeout"], "probe-timeout", 100) ?? DEFAULT_PROBE_TIMEOUT_MS,
      command: probeCommand,
    },
    hooks:
      onActivate || onDelete
        ? { onActivate, onDelete, timeoutMs: hookTimeoutMs, failure: hookFailure }
        : undefined,
    http,
    agentVersion: VERSION,
    log,
  });

  const aborted = new AbortController();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const offSignals = onStopSignal(log, () => {
    aborted.abort();
    void agent.stop().finally(done);
  });
  try {
    await agent.start(aborted.signal);
  } catch (e) {
    if (!aborted.signal.aborted) {
      offSignals();
      await agent.stop();
      throw e;
    }
  }
  await finished;
  offSignals();
  return 0;
}
