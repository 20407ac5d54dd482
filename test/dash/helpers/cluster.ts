import type { FeedEvent } from "../../../src/store/cluster-feed.js";
import {
  policyKeyOf,
  SETTINGS_KEY,
  type AuditEvent,
  type Heartbeat,
  type InstalledBackend,
  type Inventory,
  type NodeRecord,
  type NodeStatus,
  type OpRecord,
  type PolicyRecord,
  type ProgressEvent,
  type Rollout,
  type RolloutNode,
  type Settings,
  type UpgradeFindings,
} from "../../../src/protocol/index.js";
import { findingsByNode, summaryOf } from "../../../src/controller/decide/upgrades.js";
import { upgradeIndex, type UpgradeIndex } from "../../../src/format/backends.js";
import type { DashStore } from "../../../src/store/index.js";
import {
  heartbeat as hbFixture,
  nodeRecord as nodeFixture,
  opRecord as opFixture,
} from "../../fixtures/records.js";

export const NOW = Date.now();

export function node(
  id: string,
  o: { status?: NodeStatus; seenAgoMs?: number; capability?: string; model?: string } = {},
): NodeRecord {
  const at = NOW - (o.seenAgoMs ?? 1000);
  const hb: Heartbeat = {
    ...hbFixture,
    nodeId: id,
    name: `${id}.rack1`,
    capability: o.capability ?? "nvidia-cuda-12",
    gpu: { ...hbFixture.gpu, model: o.model ?? "NVIDIA L4" },
    sentAt: at,
    labels: { rack: "1" },
  };
  return {
    ...nodeFixture,
    id,
    status: o.status ?? "healthy",
    lastHeartbeatAt: at,
    statusSince: NOW - 60_000,
    last: hb,
  };
}

export function installed(
  name: string,
  version: string,
  o: Partial<InstalledBackend> = {},
): InstalledBackend {
  return {
    name,
    metadata: {
      name,
      version,
      digest: `sha256:${name.length.toString(16).padStart(2, "0")}${"c".repeat(62)}`,
      installed_at: "2026-11-23T10:00:00Z",
    },
    isMeta: false,
    generation: `g-${version}`,
    previousGenerations: [],
    ...o,
  };
}

export function inventory(nodeId: string, backends: InstalledBackend[]): Inventory {
  return { v: 1, nodeId, updatedAt: NOW, backends };
}

let opSeq = 0;
export function op(nodeId: string, o: Partial<OpRecord> = {}): OpRecord {
  const id = o.id ?? `op-${(opSeq++).toString().padStart(4, "0")}`;
  return {
    ...opFixture,
    id,
    nodeId,
    backend: "llama-cpp",
    kind: "install",
    state: "running",
    phase: "downloading",
    createdAt: NOW - 10_000,
    updatedAt: NOW,
    requestedBy: "tester",
    dismissed: false,
    // The fixture's target is llama-cpp's; an op of another backend must not name it.
    target: undefined,
    ...o,
  };
}

export function progress(o: OpRecord, done: number, total: number | null, at = NOW): ProgressEvent {
  return {
    v: 1,
    opId: o.id,
    nodeId: o.nodeId,
    backend: o.backend,
    phase: "downloading",
    bytesDone: done,
    bytesTotal: total,
    bytesPerSec: 5 * 1024 * 1024,
    etaSec: total ? (total - done) / (5 * 1024 * 1024) : null,
    final: false,
    at,
  };
}

export function upgrade(
  backend: string,
  available: string,
  nodes: string[],
  drift: string[] = [],
): UpgradeFindings {
  return {
    v: 1,
    backend,
    installedVersion: "1.0.0",
    availableVersion: available,
    via: "version",
    installed: nodes.length + drift.length,
    upgradable: nodes.length,
    drifted: drift.length,
    nodes: nodes.map((nodeId) => ({ nodeId, version: "1.0.0", upgradable: true })),
    drift: drift.map((nodeId) => ({ nodeId, version: "0.9.0", upgradable: false })),
    checkedAt: NOW - 60_000,
  };
}

/** The dashboard's upgrade index over findings, through the records the checker stores. */
export function upgradeIndexOf(findings: UpgradeFindings[]): UpgradeIndex {
  return upgradeIndex(new Map(findings.map((f) => [f.backend, summaryOf(f)])), findingsByNode(findings));
}

export function settings(autoUpgrade = false): Settings {
  return {
    v: 1,
    autoUpgrade,
    upgradeCheckIntervalSec: 21_600,
    updatedAt: NOW - 3_600_000,
    updatedBy: "admin",
  };
}

export function audit(kind: AuditEvent["kind"], at: number, o: Partial<AuditEvent> = {}): AuditEvent {
  return { v: 1, kind, at, actor: "tester", ...o };
}

export interface ClusterFixture {
  nodes?: NodeRecord[];
  inventories?: Inventory[];
  ops?: OpRecord[];
  progress?: ProgressEvent[];
  upgrades?: UpgradeFindings[];
  settings?: Settings;
  rollouts?: Rollout[];
  rolloutNodes?: RolloutNode[];
  policy?: PolicyRecord[];
}

/** Fill a store through the same batch path the NATS feed uses, buckets marked as synced. */
export function feed(store: DashStore, f: ClusterFixture): void {
  const events: FeedEvent[] = [
    ...(f.nodes ?? []).map((v) => ({ kind: "nodes" as const, key: v.id, value: v })),
    ...(f.inventories ?? []).map((v) => ({ kind: "inventory" as const, key: v.nodeId, value: v })),
    ...(f.ops ?? []).map((v) => ({ kind: "ops" as const, key: `${v.nodeId}.${v.id}`, value: v })),
    ...(f.progress ?? []).map((v) => ({ kind: "progress" as const, key: v.opId, value: v })),
    ...(f.upgrades ?? []).map((v) => ({ kind: "upgrades" as const, key: v.backend, value: summaryOf(v) })),
    ...[...findingsByNode(f.upgrades ?? []).values()].map((v) => ({
      kind: "upgrade_nodes" as const,
      key: v.nodeId,
      value: v,
    })),
    ...(f.settings ? [{ kind: "settings" as const, key: SETTINGS_KEY, value: f.settings }] : []),
    ...(f.rollouts ?? []).map((v) => ({ kind: "rollouts" as const, key: v.id, value: v })),
    ...(f.rolloutNodes ?? []).map((v) => ({
      kind: "rollout_nodes" as const,
      key: `${v.rollout}.${v.node}`,
      value: v,
    })),
    ...(f.policy ?? []).map((v) => ({ kind: "policy" as const, key: policyKeyOf(v), value: v })),
  ];
  store.getState().actions.applyBatch(events, events.length);
  const s = store.getState();
  const keys = {
    nodes: [...s.nodes.keys()],
    inventory: [...s.inventory.keys()],
    ops: [...s.ops.values()].map((o) => `${o.nodeId}.${o.id}`),
    upgrades: [...s.upgrades.keys()],
    settings: s.settings ? [SETTINGS_KEY] : [],
    rollouts: [...s.rollouts.keys()],
    rollout_nodes: [...s.rollout_nodes.keys()],
    policy: [...s.policy.keys()],
  };
  store.getState().actions.applyBatch(
    (Object.keys(keys) as Array<keyof typeof keys>).map((b) => ({
      kind: "ready" as const,
      key: b,
      keys: keys[b],
    })),
    0,
  );
  store
    .getState()
    .actions.setConn({ state: "connected", server: "nats://t:4222", since: NOW - 120_000, attempts: 1 });
}

/** A small cluster: three nodes, two backends, one running op, one failed op, one upgrade. */
export function smallCluster(): ClusterFixture {
  const nodes = [
    node("gpu-01"),
    node("gpu-02", { status: "unhealthy", seenAgoMs: 20_000 }),
    node("cpu-01", { capability: "cpu", model: undefined }),
  ];
  const running = op("gpu-01", { id: "op-run-1", backend: "whisper" });
  const failed = op("gpu-02", {
    id: "op-fail-1",
    backend: "vllm",
    state: "failed",
    phase: undefined,
    error: "digest mismatch for layer sha256:abc",
    createdAt: NOW - 3_600_000,
  });
  return {
    nodes,
    inventories: [
      inventory("gpu-01", [installed("llama-cpp", "1.0.0"), installed("whisper", "0.9.0")]),
      inventory("gpu-02", [installed("llama-cpp", "1.0.0"), installed("vllm-development", "0.1.0")]),
      inventory("cpu-01", [installed("llama-cpp", "0.9.0")]),
    ],
    ops: [running, failed],
    progress: [progress(running, 50 * 1024 * 1024, 200 * 1024 * 1024)],
    upgrades: [upgrade("llama-cpp", "1.1.0", ["gpu-01", "gpu-02"], ["cpu-01"])],
    settings: settings(false),
  };
}

/** A running rollout of llama-cpp to 1.1.0 over `eligible` nodes in waves 1,50%,100%. */
export function rollout(o: Partial<Rollout> = {}): Rollout {
  return {
    v: 1,
    id: "ro-abc-0001",
    backend: "llama-cpp",
    galleryVersion: "1.1.0",
    builds: {
      "cuda12-llama-cpp": {
        target: { name: "cuda12-llama-cpp", uri: "oci://quay.io/x:y", mirrors: [], version: "1.1.0" },
      },
    },
    byCapability: {},
    targeting: { kind: "installed" },
    total: 4,
    eligible: 3,
    waves: [1, 2, 3],
    strategy: {
      waves: ["1", "50%", "100%"],
      maxParallel: "1",
      soakMs: 60_000,
      autoPromote: true,
      autoRevert: false,
    },
    state: "running",
    wave: 1,
    waveStartedAt: NOW - 30_000,
    forgiven: 0,
    pauses: [],
    actions: [],
    dismissed: false,
    createdAt: NOW - 300_000,
    createdBy: "alice@laptop",
    updatedAt: NOW - 10_000,
    ...o,
  };
}

/** A rollout's row for one node. */
export function rolloutNode(
  node: string,
  i: number,
  w: number,
  o: RolloutNode["o"],
  extra: Partial<RolloutNode> = {},
): RolloutNode {
  return {
    v: 1,
    rollout: "ro-abc-0001",
    node,
    i,
    w,
    o,
    c: "cuda12-llama-cpp",
    fromVersion: "1.0.0",
    gen: "g1",
    at: NOW - 20_000,
    ...extra,
  };
}
