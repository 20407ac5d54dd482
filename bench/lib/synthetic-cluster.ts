import { parseArgs } from "node:util";
/**
 * The synthetic cluster the dashboard benchmarks feed: 500 nodes × 30 backends, 100 running ops,
 * a mix of node states and some upgradable installs. Records are valid protocol records, so they
 * go through the same codecs and store code as a real cluster's.
 */
import {
  opKey,
  SETTINGS_KEY,
  type Heartbeat,
  type InstalledBackend,
  type Inventory,
  type NodeRecord,
  type NodeUpgrades,
  type OpRecord,
  type ProgressEvent,
  type Settings,
  type UpgradeInfo,
} from "../../src/protocol/index.js";

/** The fleet's size from the bench's own command line (`--nodes`, `--backends`, `--ops`). */
const size = parseArgs({
  args: process.argv.slice(2),
  options: { nodes: { type: "string" }, backends: { type: "string" }, ops: { type: "string" } },
  strict: false,
}).values;
const count = (v: unknown, fallback: number): number => {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`a bench size must be a positive integer, got ${String(v)}`);
  return n;
};
export const NODES = count(size.nodes, 500);
export const BACKENDS = count(size.backends, 30);
export const OPS = count(size.ops, 100);
const GiB = 2 ** 30;
const OP_BYTES = 4 * GiB;

export const nodeId = (i: number) => `gpu-${String(i).padStart(3, "0")}`;
export const backendName = (j: number) => `backend-${String(j).padStart(2, "0")}`;
export const opId = (k: number) => `op-bench-${k}`;

/** A CPU node's heartbeat with nothing but its id and time to tell it apart. */
export function plainHeartbeat(id: string, sentAt: number): Heartbeat {
  return {
    v: 1,
    nodeId: id,
    name: id,
    capability: "default",
    gpu: { vendor: "none", vramBytes: 0 },
    disk: { freeBytes: 1e12, totalBytes: 2e12 },
    agentVersion: "bench",
    runningOps: 0,
    labels: {},
    sentAt,
  };
}

export function heartbeat(i: number, at: number): Heartbeat {
  return {
    v: 1,
    nodeId: nodeId(i),
    name: `${nodeId(i)}.rack${i % 20}`,
    capability: i % 5 === 0 ? "cpu" : "nvidia-cuda-12",
    gpu:
      i % 5 === 0
        ? { vendor: "none", vramBytes: 0 }
        : { vendor: "nvidia", model: "NVIDIA H100", vramBytes: 80 * GiB, cudaMajor: 12 },
    disk: { freeBytes: (200 + (i % 300)) * GiB, totalBytes: 2000 * GiB },
    agentVersion: "0.1.0",
    runningOps: i < OPS ? 1 : 0,
    labels: { rack: String(i % 20) },
    sentAt: at,
  };
}

export function nodeRecord(i: number, at: number): NodeRecord {
  const status =
    i % 97 === 0 ? "offline" : i % 53 === 0 ? "unhealthy" : i % 71 === 0 ? "draining" : "healthy";
  return {
    v: 1,
    id: nodeId(i),
    status,
    statusSince: at - 3_600_000,
    firstSeenAt: at - 86_400_000,
    lastHeartbeatAt: at,
    last: heartbeat(i, at),
    approved: true,
  };
}

function installed(j: number, i: number): InstalledBackend {
  const version = (i + j) % 17 === 0 ? "1.0.0" : "1.1.0";
  return {
    name: backendName(j),
    metadata: {
      name: backendName(j),
      version,
      digest: `sha256:${String(j).padStart(2, "0")}${"ab".repeat(31)}`,
      installed_at: "2026-11-01T00:00:00Z",
    },
    isMeta: false,
    generation: `g-${version}`,
    previousGenerations: ["g-0.9.0"],
    sizeBytes: 512 * 2 ** 20,
  };
}

export function inventory(i: number, at: number): Inventory {
  return {
    v: 1,
    nodeId: nodeId(i),
    updatedAt: at,
    backends: Array.from({ length: BACKENDS }, (_, j) => installed(j, i)),
  };
}

export function op(k: number, at: number): OpRecord {
  return {
    v: 1,
    id: opId(k),
    nodeId: nodeId(k),
    kind: k % 3 === 0 ? "upgrade" : "install",
    backend: backendName(k % BACKENDS),
    state: "running",
    phase: "downloading",
    requestedBy: "bench",
    createdAt: at - k * 1000,
    updatedAt: at,
    startedAt: at - k * 1000,
    attempts: 1,
    dismissed: false,
    bytesTotal: OP_BYTES,
  };
}

/** Backend j is upgradable on every 17th node (offset by j). */
const upgradableOn = (i: number, j: number) => (i + j) % 17 === 0;

export function upgradeInfo(j: number, at: number): UpgradeInfo {
  let upgradable = 0;
  for (let i = 0; i < NODES; i++) if (upgradableOn(i, j)) upgradable++;
  return {
    v: 1,
    backend: backendName(j),
    installedVersion: "1.0.0",
    availableVersion: "1.1.0",
    via: "version",
    installed: NODES,
    upgradable,
    drifted: 0,
    checkedAt: at,
  };
}

/** Node i's upgradable rows; null when it has none. */
export function nodeUpgrades(i: number): NodeUpgrades | null {
  const rows: NodeUpgrades["rows"] = [];
  for (let j = 0; j < BACKENDS; j++)
    if (upgradableOn(i, j))
      rows.push({ backend: backendName(j), version: "1.0.0", upgradable: true, drift: false });
  return rows.length > 0 ? { v: 1, nodeId: nodeId(i), rows } : null;
}

export function settings(at: number): Settings {
  return { v: 1, autoUpgrade: false, upgradeCheckIntervalSec: 21_600, updatedAt: at, updatedBy: "bench" };
}

/** Every KV record of the cluster as (bucket, key, value), in the order a watch would deliver them. */
export function* records(at: number) {
  for (let i = 0; i < NODES; i++)
    yield { bucket: "nodes", key: nodeId(i), value: nodeRecord(i, at) } as const;
  for (let i = 0; i < NODES; i++)
    yield { bucket: "inventory", key: nodeId(i), value: inventory(i, at) } as const;
  for (let k = 0; k < OPS; k++)
    yield { bucket: "ops", key: opKey(nodeId(k), opId(k)), value: op(k, at) } as const;
  for (let j = 0; j < BACKENDS; j++)
    yield { bucket: "upgrades", key: backendName(j), value: upgradeInfo(j, at) } as const;
  for (let i = 0; i < NODES; i++) {
    const u = nodeUpgrades(i);
    if (u) yield { bucket: "upgrade_nodes", key: nodeId(i), value: u } as const;
  }
  yield { bucket: "settings", key: SETTINGS_KEY, value: settings(at) } as const;
}

/** The progress stream: every op moves 8 MiB a tick at 32 MiB/s and wraps at 4 GiB. */
export class ProgressSource {
  private done = new Array<number>(OPS).fill(0);
  tick(at: number): ProgressEvent[] {
    return this.done.map((d, k) => {
      const bytesDone = (d + 8 * 2 ** 20) % OP_BYTES;
      this.done[k] = bytesDone;
      return {
        v: 1,
        opId: opId(k),
        nodeId: nodeId(k),
        backend: backendName(k % BACKENDS),
        phase: "downloading",
        bytesDone,
        bytesTotal: OP_BYTES,
        bytesPerSec: 32 * 2 ** 20,
        etaSec: (OP_BYTES - bytesDone) / (32 * 2 ** 20),
        final: false,
        at,
      };
    });
  }
}
