import { z } from "zod";
import { BackendName, Capability, Millis, NodeId, OpId, Text } from "./ids.js";

/** Every persisted record and every message carries `v`; an unknown version is refused, not guessed. */
export const SCHEMA_VERSION = 1 as const;
const v = z.literal(SCHEMA_VERSION, {
  error: `unsupported schema version (this build reads v${SCHEMA_VERSION})`,
});

const Labels = z.record(z.string().max(63), z.string().max(256)).refine((r) => Object.keys(r).length <= 64, {
  message: "at most 64 labels",
});

// ---------------------------------------------------------------- heartbeat

export const GpuInfo = z.object({
  vendor: z.enum(["nvidia", "amd", "intel", "apple", "none"]),
  model: Text(128).optional(),
  vramBytes: z.number().int().nonnegative(),
  cudaMajor: z.number().int().positive().optional(),
});
export type GpuInfo = z.infer<typeof GpuInfo>;

export const Heartbeat = z.object({
  v,
  nodeId: NodeId,
  name: Text(128).min(1),
  capability: Capability,
  gpu: GpuInfo,
  disk: z.object({ freeBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() }),
  agentVersion: Text(64),
  runningOps: z.number().int().nonnegative(),
  labels: Labels.default({}),
  sentAt: Millis,
});
export type Heartbeat = z.infer<typeof Heartbeat>;

// ---------------------------------------------------------------- node record

export const NodeStatus = z.enum(["healthy", "unhealthy", "offline", "draining", "pending"]);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const NodeRecord = z.object({
  v,
  id: NodeId,
  status: NodeStatus,
  statusReason: Text(512).optional(),
  statusSince: Millis,
  firstSeenAt: Millis,
  lastHeartbeatAt: Millis,
  /** The most recent heartbeat as the agent sent it. */
  last: Heartbeat,
  /** Set when an admin approves a pending node, so the approval survives restarts. */
  approved: z.boolean().default(true),
});
export type NodeRecord = z.infer<typeof NodeRecord>;

// ---------------------------------------------------------------- inventory

/** LocalAI's metadata.json, field for field (all optional there; `name` is always filled here). */
export const BackendMetadata = z.object({
  name: BackendName,
  alias: Text(128).optional(),
  meta_backend_for: BackendName.optional(),
  gallery_url: Text(2048).optional(),
  installed_at: Text(64).optional(),
  version: Text(128).optional(),
  uri: Text(2048).optional(),
  digest: Text(128).optional(),
});
export type BackendMetadata = z.infer<typeof BackendMetadata>;

export const InstalledBackend = z.object({
  name: BackendName,
  metadata: BackendMetadata,
  /** A meta pointer (only metadata.json, pointing at its concrete). */
  isMeta: z.boolean(),
  /** Live generation id; null for a meta pointer. */
  generation: z.string().max(64).nullable(),
  /** Older generations kept on disk for an instant rollback, newest first. */
  previousGenerations: z.array(z.string().max(64)).max(32),
  /** The same generations with what their metadata.json says (agents that report it), newest first. */
  previous: z
    .array(
      z.object({
        generation: z.string().max(64),
        version: Text(128).optional(),
        digest: Text(128).optional(),
        installedAt: Text(64).optional(),
      }),
    )
    .max(32)
    .optional(),
  sizeBytes: z.number().int().nonnegative().optional(),
});
export type InstalledBackend = z.infer<typeof InstalledBackend>;

export const Inventory = z.object({
  v,
  nodeId: NodeId,
  updatedAt: Millis,
  backends: z.array(InstalledBackend).max(4096),
});
export type Inventory = z.infer<typeof Inventory>;

// ---------------------------------------------------------------- operations

export const OpKind = z.enum(["install", "upgrade", "reinstall", "delete", "rollback"]);
export type OpKind = z.infer<typeof OpKind>;

export const OpState = z.enum(["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]);
export type OpState = z.infer<typeof OpState>;

export const Phase = z.enum([
  "resolving",
  "downloading",
  "verifying",
  "extracting",
  /** The staged version runs its health probe (LocalAI's Health call) before it goes live. */
  "probing",
  "activating",
]);
export type Phase = z.infer<typeof Phase>;

/** What to fetch, as the controller resolved it from the gallery for this node. */
export const InstallTarget = z.object({
  /** Concrete backend name that lands on disk. */
  name: BackendName,
  uri: Text(2048).min(1),
  mirrors: z.array(Text(2048)).max(16).default([]),
  sha256: z
    .string()
    .regex(/^[a-f0-9]{64}$/)
    .optional(),
  version: Text(128).optional(),
  alias: Text(128).optional(),
  galleryUrl: Text(2048).optional(),
  /** Set when the request named a meta backend: the pointer to write next to the concrete. */
  meta: BackendName.optional(),
});
export type InstallTarget = z.infer<typeof InstallTarget>;

/** How a node's hook ran: exit status (or signal, or timeout) and the last lines of its output. */
export const OpHookResult = z.object({
  hook: z.enum(["on-activate", "on-delete"]),
  ok: z.boolean(),
  exitCode: z.number().int().nullable(),
  signal: z.string().max(32).optional(),
  timedOut: z.boolean().optional(),
  durationMs: z.number().int().nonnegative(),
  /** The last lines of its stdout and stderr together (at most 20, each clipped). */
  output: z.array(Text(256)).max(20),
  /** With --hook-failure rollback, what was done about the failure. */
  action: Text(512).optional(),
});
export type OpHookResult = z.infer<typeof OpHookResult>;

export const OpRecord = z.object({
  v,
  id: OpId,
  nodeId: NodeId,
  kind: OpKind,
  /** The name the user asked for (a meta, an alias or a concrete). */
  backend: BackendName,
  target: InstallTarget.optional(),
  /** Rollback only: the kept generation to make live (absent: the newest kept one). */
  generation: z.string().min(1).max(64).optional(),
  /** What the node had when the op was admitted (from its inventory), so the op can say from → to. */
  from: z.object({ version: Text(128).optional(), digest: Text(128).optional() }).optional(),
  state: OpState,
  phase: Phase.optional(),
  /** When each phase of the latest attempt began, in order (written by the agent's start and phase steps). */
  phases: z
    .array(z.object({ phase: Phase, at: Millis }))
    .max(16)
    .optional(),
  error: Text(4096).optional(),
  requestedBy: Text(128),
  createdAt: Millis,
  updatedAt: Millis,
  startedAt: Millis.optional(),
  finishedAt: Millis.optional(),
  attempts: z.number().int().nonnegative(),
  dismissed: z.boolean(),
  bytesTotal: z.number().int().nonnegative().optional(),
  result: z
    .object({
      version: Text(128).optional(),
      digest: Text(128).optional(),
      generation: z.string().max(64).optional(),
      noop: z.boolean().optional(),
      /** The health probe of the new version: which kind, whether it ran, how long it took. */
      probe: z
        .object({
          mode: z.enum(["grpc", "exec", "none"]),
          ran: z.boolean(),
          durationMs: z.number().int().nonnegative(),
        })
        .optional(),
      /** The agent's --on-activate / --on-delete hook, run after the change went live. */
      hook: OpHookResult.optional(),
    })
    .optional(),
});
export type OpRecord = z.infer<typeof OpRecord>;

/** A work-queue message: the op record is the truth, this only says "look at it". */
export const WorkItem = z.object({ v, opId: OpId, nodeId: NodeId });
export type WorkItem = z.infer<typeof WorkItem>;

export const CancelSignal = z.object({ v, opId: OpId, nodeId: NodeId });
export type CancelSignal = z.infer<typeof CancelSignal>;

// ---------------------------------------------------------------- progress

export const ProgressEvent = z.object({
  v,
  opId: OpId,
  nodeId: NodeId,
  backend: BackendName,
  phase: Phase,
  bytesDone: z.number().int().nonnegative(),
  bytesTotal: z.number().int().nonnegative().nullable(),
  bytesPerSec: z.number().nonnegative(),
  etaSec: z.number().nonnegative().nullable(),
  final: z.boolean().default(false),
  at: Millis,
});
export type ProgressEvent = z.infer<typeof ProgressEvent>;

// ---------------------------------------------------------------- upgrades

export const NodeVersion = z.object({
  nodeId: NodeId,
  /** The concrete installed there (differs from the row's name for metas). */
  concrete: BackendName.optional(),
  version: Text(128).optional(),
  digest: Text(128).optional(),
  upgradable: z.boolean(),
});
export type NodeVersion = z.infer<typeof NodeVersion>;

/**
 * A backend's upgrade summary (the `upgrades` record, one per backend): versions and counts only,
 * so it stays the same size whatever the fleet; the rows per node are in `upgrade_nodes`.
 */
export const UpgradeInfo = z.object({
  v,
  backend: BackendName,
  installedVersion: Text(128).optional(),
  availableVersion: Text(128).optional(),
  installedDigest: Text(128).optional(),
  availableDigest: Text(128).optional(),
  via: z.enum(["version", "digest", "drift"]),
  /** Nodes that have this backend installed (the check judged them). */
  installed: z.number().int().nonnegative(),
  /** Of those, the nodes an upgrade is available to. */
  upgradable: z.number().int().nonnegative(),
  /** Nodes whose (version, digest) differs from the majority. */
  drifted: z.number().int().nonnegative(),
  checkedAt: Millis,
});
export type UpgradeInfo = z.infer<typeof UpgradeInfo>;

/** A check's finding for one backend with its rows per node: in memory only, never stored whole. */
export type UpgradeFindings = UpgradeInfo & { nodes: NodeVersion[]; drift: NodeVersion[] };

/** One backend of one node that can be upgraded or has drifted. */
export const NodeUpgradeRow = NodeVersion.omit({ nodeId: true }).extend({
  /** The backend's row in `upgrades` (a meta, or the concrete itself). */
  backend: BackendName,
  drift: z.boolean(),
});
export type NodeUpgradeRow = z.infer<typeof NodeUpgradeRow>;

/**
 * What the last check found on one node (the `upgrade_nodes` record, key = node id): a row per
 * upgradable or drifted backend, so it is bounded by what one node installs, like its inventory.
 * No timestamp: a round rewrites only the nodes whose rows changed (`checks` says when it ran).
 */
export const NodeUpgrades = z.object({
  v,
  nodeId: NodeId,
  rows: z.array(NodeUpgradeRow).max(4096),
});
export type NodeUpgrades = z.infer<typeof NodeUpgrades>;

// ---------------------------------------------------------------- checks, leases, audit

// The settings record is in settings.ts (it holds the default rollout strategy).

/** The last upgrade-check round, whatever it found (the upgrades bucket holds only what it found). */
export const CheckRound = z.object({
  v,
  at: Millis,
  by: Text(128),
  images: z.number().int().min(0),
  headRequests: z.number().int().min(0),
  upgradable: z.number().int().min(0),
  unreachable: z.number().int().min(0),
});
export type CheckRound = z.infer<typeof CheckRound>;

export const Lease = z.object({ v, holder: Text(128).min(1), since: Millis, renewedAt: Millis });
export type Lease = z.infer<typeof Lease>;

/** Events a rollout emits into the audit stream. */
export const ROLLOUT_EVENT_KINDS = [
  "rollout.created",
  "rollout.started",
  "rollout.wave",
  "rollout.gate.passed",
  "rollout.gate.failed",
  "rollout.paused",
  "rollout.resumed",
  "rollout.promoted",
  "rollout.aborted",
  "rollout.node.reverted",
  "rollout.ended",
] as const;

export const AuditKind = z.enum([
  "op.created",
  "op.state",
  "op.cancel",
  "op.dismissed",
  "op.retried",
  "op.reaped",
  "node.status",
  "upgrades.checked",
  "settings.changed",
  "node.hold",
  "node.unhold",
  "backend.pin",
  "backend.unpin",
  ...ROLLOUT_EVENT_KINDS,
]);
export type AuditKind = z.infer<typeof AuditKind>;

export const AuditEvent = z.object({
  v,
  kind: AuditKind,
  at: Millis,
  actor: Text(128),
  nodeId: NodeId.optional(),
  opId: OpId.optional(),
  backend: BackendName.optional(),
  message: Text(4096).optional(),
  op: OpRecord.optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
