import { GalleryCatalog, type GalleryEntry } from "../../src/gallery/index.js";
import type {
  Heartbeat,
  InstalledBackend,
  Inventory,
  NodeRecord,
  NodeStatus,
  OpRecord,
} from "../../src/protocol/index.js";

/** Builders for table tests: small, explicit records with only what a case varies. */

export const T0 = 1_800_000_000_000;

export function heartbeat(nodeId: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    nodeId,
    name: nodeId,
    capability: "default",
    gpu: { vendor: "none", vramBytes: 0 },
    disk: { freeBytes: 1e12, totalBytes: 2e12 },
    agentVersion: "test",
    runningOps: 0,
    labels: {},
    sentAt: T0,
    ...over,
  };
}

export function node(
  id: string,
  status: NodeStatus = "healthy",
  over: Partial<NodeRecord> & { capability?: string; runningOps?: number } = {},
): NodeRecord {
  const { capability, runningOps, ...rest } = over;
  return {
    v: 1,
    id,
    status,
    statusSince: T0,
    firstSeenAt: T0,
    lastHeartbeatAt: T0,
    last: heartbeat(id, { capability: capability ?? "default", runningOps: runningOps ?? 0 }),
    approved: status !== "pending",
    ...rest,
  };
}

export function installed(
  name: string,
  meta: Partial<InstalledBackend["metadata"]> = {},
  over: Partial<InstalledBackend> = {},
): InstalledBackend {
  return {
    name,
    metadata: { name, ...meta },
    isMeta: !!meta.meta_backend_for,
    generation: meta.meta_backend_for ? null : "g1",
    previousGenerations: [],
    ...over,
  };
}

export function inventory(nodeId: string, backends: InstalledBackend[], updatedAt = T0): Inventory {
  return { v: 1, nodeId, updatedAt, backends };
}

export function op(id: string, nodeId: string, backend: string, over: Partial<OpRecord> = {}): OpRecord {
  return {
    v: 1,
    id,
    nodeId,
    kind: "install",
    backend,
    state: "queued",
    requestedBy: "test",
    createdAt: T0,
    updatedAt: T0,
    attempts: 0,
    dismissed: false,
    ...over,
  };
}

export function entry(name: string, over: Partial<GalleryEntry> = {}): GalleryEntry {
  return { name, gallery: "test", galleryUrl: "file:///test.yaml", mirrors: [], urls: [], tags: [], ...over };
}

export function catalogOf(...entries: GalleryEntry[]): GalleryCatalog {
  return new GalleryCatalog(entries);
}

export const mapOf = <T extends { id: string } | { nodeId: string }>(...items: T[]): Map<string, T> =>
  new Map(items.map((i) => ["id" in i ? i.id : i.nodeId, i]));
