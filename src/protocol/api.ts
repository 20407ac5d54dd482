import { z } from "zod";
import { BackendName, Capability, NodeId, OpId, Text } from "./ids.js";
import { AuditEvent, NodeRecord, OpKind, OpRecord, UpgradeInfo } from "./records.js";
import { Settings } from "./settings.js";
import { Rollout, RolloutId, RolloutNode, RolloutPlanView } from "./rollout.js";
import { BackendPin, HoldEntry, NodeHolds } from "./policy.js";
import { NODES_PAGE, OPS_PAGE, pageReply, pageRequest, ROLLOUT_NODES_PAGE } from "./page.js";
import { REPLY_ROWS } from "./bounded.js";

/** Who is asking: the API client's name, recorded on every op and audit event. */
const actor = Text(128).optional();

/**
 * At most this many node ids in one request: 10,000 ids of at most 64 characters are 670,000
 * bytes of JSON (64 + 2 quotes + 1 comma each), under NATS's default 1 MB max payload with room
 * for the other fields; 15,000 would not be (1,005,000). A bigger set is named by `selector`.
 */
export const MAX_REQUEST_NODES = 10_000;
/** Capabilities one `gallery.resolve` request may name. */
export const MAX_RESOLVE_CAPABILITIES = 256;

const Targets = z
  .object({
    backend: BackendName,
    /**
     * Explicit nodes; omitted (and no selector) means every node that has the backend (upgrade,
     * reinstall, delete).
     */
    nodes: z.array(NodeId).min(1).max(MAX_REQUEST_NODES).optional(),
    /**
     * Instead of `nodes`: a Kubernetes label selector over node labels (`gpu=h100,zone!=eu`),
     * matched by the controller. Upgrade, reinstall and delete act on the matching nodes that have
     * the backend; install and rollback on every matching node.
     */
    selector: Text(1024).optional(),
    /** Act on held nodes, and upgrade past a pinned version, too. */
    force: z.boolean().optional(),
    actor,
  })
  .strict();

/** A node whose record is in the bucket but does not validate; its next heartbeat rewrites it. */
export const UnreadableNode = z.object({ id: Text(512), error: Text(1024) });
export type UnreadableNode = z.infer<typeof UnreadableNode>;

const OpRef = z.object({ opId: OpId, actor }).strict();
const NodeRef = z.object({ nodeId: NodeId, actor, reason: Text(512).optional() }).strict();

export const Admitted = z.object({
  nodeId: NodeId,
  opId: OpId,
  /** True when an op for this (node, backend) was already active and its id is returned instead. */
  existing: z.boolean(),
  concrete: BackendName.optional(),
});
export type Admitted = z.infer<typeof Admitted>;

export const Refused = z.object({ nodeId: NodeId, error: Text(1024) });
export type Refused = z.infer<typeof Refused>;

/**
 * What an admission did, bounded whatever the fleet: totals, and the first rows of each list
 * (existing ops first). New ops' ids are `<batch>-<n>`, so a caller finds every op it admitted
 * (`admittedMatcher`) from the reply alone, listed or not.
 */
export const AdmitReply = z
  .object({
    admitted: z.array(Admitted).max(REPLY_ROWS),
    refused: z.array(Refused).max(REPLY_ROWS),
    /** Over every node, listed or not; absent from a controller before the reply was bounded. */
    counts: z
      .object({
        admitted: z.number().int().nonnegative(),
        existing: z.number().int().nonnegative(),
        refused: z.number().int().nonnegative(),
      })
      .optional(),
    batch: OpId.optional(),
    /** Some rows are not listed (see counts). */
    truncated: z.boolean().default(false),
  })
  .transform((r) => ({
    ...r,
    counts: r.counts ?? {
      admitted: r.admitted.length,
      existing: r.admitted.filter((a) => a.existing).length,
      refused: r.refused.length,
    },
  }));
export type AdmitReply = z.infer<typeof AdmitReply>;

/**
 * The ops of a truncated reply a caller can find: the listed ones, and every new one (by the
 * batch's id prefix), but not an existing op past the listed rows; and how many existing ones
 * those are (found only through `ops.list`).
 */
export function findableOps(r: Pick<AdmitReply, "admitted" | "counts">): { total: number; unlisted: number } {
  const listedExisting = r.admitted.filter((a) => a.existing).length;
  return {
    total: listedExisting + r.counts.admitted - r.counts.existing,
    unlisted: r.counts.existing - listedExisting,
  };
}

/** Which op ids `r` admitted: those it lists, and every new one of its batch, listed or not. */
export function admittedMatcher(r: Pick<AdmitReply, "admitted" | "batch">): (opId: string) => boolean {
  const listed = new Set(r.admitted.map((a) => a.opId));
  const prefix = r.batch === undefined ? undefined : `${r.batch}-`;
  return (opId) => listed.has(opId) || (prefix !== undefined && opId.startsWith(prefix));
}

export const GalleryEntrySummary = z.object({
  name: BackendName,
  gallery: Text(128),
  kind: z.enum(["meta", "concrete"]),
  alias: Text(128).optional(),
  development: z.boolean(),
  description: Text(4096).optional(),
  uri: Text(2048).optional(),
  version: Text(128).optional(),
  capabilities: z.record(z.string().max(64), BackendName).optional(),
});
export type GalleryEntrySummary = z.infer<typeof GalleryEntrySummary>;

export const NodeResolution = z.object({
  nodeId: NodeId,
  capability: Capability.optional(),
  concrete: BackendName.optional(),
  error: Text(1024).optional(),
});
export type NodeResolution = z.infer<typeof NodeResolution>;

/** What a node of one capability would get: the concrete build, through which meta and alias. */
export const CapabilityResolution = z.object({
  capability: Capability,
  concrete: BackendName.optional(),
  uri: Text(2048).optional(),
  meta: BackendName.optional(),
  capabilityKey: Text(64).optional(),
  alias: Text(128).optional(),
  error: Text(1024).optional(),
});
export type CapabilityResolution = z.infer<typeof CapabilityResolution>;

export const MAX_CAPABILITY_COUNTS = 512;

/** Nodes of one capability in a `gallery.resolve` reply, and what they resolve to. */
export const CapabilityCount = z.object({
  /** Unset: nodes the controller does not know. */
  capability: Capability.optional(),
  nodes: z.number().int().nonnegative(),
  concrete: BackendName.optional(),
  error: Text(1024).optional(),
});
export type CapabilityCount = z.infer<typeof CapabilityCount>;

/** What a rollout targets and how it moves (strategy fields as people write them). */
const RolloutRequest = z
  .object({
    backend: BackendName,
    /** As for ops (MAX_REQUEST_NODES, to stay under 1 MB); more nodes are named by `selector`. */
    nodes: z.array(NodeId).min(1).max(MAX_REQUEST_NODES).optional(),
    /** A Kubernetes label selector over node labels (`gpu=h100,zone!=eu`). */
    selector: Text(1024).optional(),
    waves: Text(256).optional(),
    maxParallel: Text(16).optional(),
    /** "60s", "5m", or seconds. */
    soak: Text(32).optional(),
    maxFailures: Text(16).optional(),
    actor,
  })
  .strict();

const HoldsReply = z.object({ nodeId: NodeId, holds: z.array(HoldEntry) });

/** A record key as a list's cursor (a node id, an op's `<nodeId>.<opId>`; unreadable keys too). */
const KeyCursor = z.string().min(1).max(512);
/** A rollout node's position (`i`) as `rollouts.get`'s cursor. */
const PositionCursor = z.number().int().nonnegative();

const RolloutRef = z.object({ id: RolloutId, actor, reason: Text(512).optional() }).strict();
const RolloutReply = z.object({ rollout: Rollout });

/**
 * The controller's request/reply API. Each method is served on `<prefix>.api.<method>` by every
 * replica in one queue group, and over HTTP by the same handler.
 */
export const api = {
  "ops.install": {
    req: Targets.extend({
      /** An image no gallery lists (LocalAI's "install external"): `oci://` or `docker://` reference. */
      source: z
        .string()
        .max(2048)
        .regex(/^(oci|docker):\/\/\S+$/, "an oci:// or docker:// image reference")
        .optional(),
    }),
    res: AdmitReply,
  },
  "ops.upgrade": { req: Targets, res: AdmitReply },
  "ops.reinstall": { req: Targets, res: AdmitReply },
  "ops.delete": { req: Targets, res: AdmitReply },
  "ops.rollback": {
    req: Targets.extend({
      /** A kept generation id as the node's inventory reports it; omitted means the newest kept one. */
      generation: z.string().min(1).max(64).optional(),
    }),
    res: AdmitReply,
  },
  "ops.cancel": { req: OpRef, res: z.object({ op: OpRecord }) },
  "ops.dismiss": { req: OpRef, res: z.object({ op: OpRecord }) },
  "ops.retry": { req: OpRef, res: z.object({ op: OpRecord }) },
  "ops.get": { req: z.object({ opId: OpId }).strict(), res: z.object({ op: OpRecord }) },
  "ops.list": {
    req: z
      .object({
        all: z.boolean().default(false),
        nodeId: NodeId.optional(),
        backend: BackendName.optional(),
        kind: OpKind.optional(),
        /** A page of the matching ops in key order (`<nodeId>.<opId>`). */
        ...pageRequest(KeyCursor, OPS_PAGE),
      })
      .strict(),
    res: z.object({ ops: z.array(OpRecord), ...pageReply(KeyCursor) }),
  },
  "ops.history": {
    req: z
      .object({
        limit: z.number().int().min(1).max(10_000).default(200),
        nodeId: NodeId.optional(),
        backend: BackendName.optional(),
      })
      .strict(),
    res: z.object({
      events: z.array(AuditEvent),
      /** Fewer than `limit` events: the newest that fit HISTORY_REPLY_BYTES (an event can be 16 KB). */
      truncated: z.boolean().default(false),
    }),
  },
  "upgrades.list": { req: z.object({}).strict(), res: z.object({ upgrades: z.array(UpgradeInfo) }) },
  "upgrades.check": {
    req: z.object({ actor }).strict(),
    res: z.object({
      upgrades: z.array(UpgradeInfo),
      checkedAt: z.number().int(),
      headRequests: z.number().int(),
    }),
  },
  "settings.get": { req: z.object({}).strict(), res: z.object({ settings: Settings }) },
  "settings.set": {
    req: z
      .object({
        autoUpgrade: z.boolean().optional(),
        upgradeCheckIntervalSec: z
          .number()
          .int()
          .min(60)
          .max(7 * 24 * 3600)
          .optional(),
        /** The default rollout strategy, field by field, as `rollouts.start` takes it. */
        waves: Text(256).optional(),
        maxParallel: Text(16).optional(),
        soak: Text(32).optional(),
        /** null: back to the built-in budget (0 in the first wave, 10% after). */
        maxFailures: Text(16).nullable().optional(),
        autoPromote: z.boolean().optional(),
        autoRevert: z.boolean().optional(),
        /** The maintenance window (`Sat,Sun 02:00-05:00 UTC`); null, "" or "none": no window. */
        window: Text(256).nullable().optional(),
        actor,
      })
      .strict(),
    res: z.object({ settings: Settings }),
  },
  "nodes.list": {
    /** A page of node ids in order; `limit` counts nodes, unreadable ones and held ids alike. */
    req: z.object(pageRequest(KeyCursor, NODES_PAGE)).strict(),
    res: z.object({
      nodes: z.array(NodeRecord),
      /** Node records that do not validate (a buggy writer, a manual put), by node id, with why. */
      unreadable: z.array(UnreadableNode).default([]),
      /** Holds of the node ids this page covers (held ids with no node record too). */
      holds: z.array(NodeHolds).default([]),
      ...pageReply(KeyCursor),
    }),
  },
  "nodes.approve": { req: NodeRef, res: z.object({ node: NodeRecord }) },
  "nodes.drain": { req: NodeRef, res: z.object({ node: NodeRecord }) },
  "nodes.resume": { req: NodeRef, res: z.object({ node: NodeRecord }) },
  "nodes.hold": {
    req: z
      .object({
        nodeId: NodeId,
        /** Hold only this backend; unset: every backend. */
        backend: BackendName.optional(),
        reason: Text(512).optional(),
        actor,
      })
      .strict(),
    res: HoldsReply,
  },
  "nodes.unhold": {
    req: z.object({ nodeId: NodeId, backend: BackendName.optional(), actor }).strict(),
    res: HoldsReply,
  },
  "backends.pin": {
    req: z
      .object({
        backend: BackendName,
        version: Text(128).min(1),
        selector: Text(1024).optional(),
        reason: Text(512).optional(),
        actor,
      })
      .strict(),
    res: z.object({ pin: BackendPin }),
  },
  "backends.unpin": {
    req: z.object({ backend: BackendName, actor }).strict(),
    /** The pin removed; null when there was none. */
    res: z.object({ backend: BackendName, pin: BackendPin.nullable() }),
  },
  "policy.list": {
    req: z.object({}).strict(),
    res: z.object({
      /** The first held nodes (by id) that fit a reply; `nodes.list` pages them with their nodes. */
      holds: z.array(NodeHolds),
      pins: z.array(BackendPin),
      /** Every held node, listed or not; absent from a controller before the reply was bounded. */
      heldNodes: z.number().int().nonnegative().optional(),
      truncated: z.boolean().default(false),
    }),
  },
  "rollouts.plan": { req: RolloutRequest, res: z.object({ plan: RolloutPlanView }) },
  "rollouts.start": {
    req: RolloutRequest.extend({
      autoPromote: z.boolean().optional(),
      autoRevert: z.boolean().optional(),
    }).strict(),
    res: RolloutReply,
  },
  "rollouts.list": {
    req: z.object({ all: z.boolean().default(false) }).strict(),
    res: z.object({ rollouts: z.array(Rollout) }),
  },
  "rollouts.get": {
    /** The rollout and a page of its nodes by position; `limit: 0` asks for the rollout alone. */
    req: z.object({ id: RolloutId, ...pageRequest(PositionCursor, ROLLOUT_NODES_PAGE, 0) }).strict(),
    res: z.object({ rollout: Rollout, nodes: z.array(RolloutNode), ...pageReply(PositionCursor) }),
  },
  "rollouts.pause": { req: RolloutRef, res: RolloutReply },
  "rollouts.resume": { req: RolloutRef, res: RolloutReply },
  "rollouts.promote": { req: RolloutRef, res: RolloutReply },
  "rollouts.abort": { req: RolloutRef, res: RolloutReply },
  "rollouts.dismiss": { req: RolloutRef, res: RolloutReply },
  "gallery.list": { req: z.object({}).strict(), res: z.object({ entries: z.array(GalleryEntrySummary) }) },
  "gallery.resolve": {
    req: z
      .object({
        backend: BackendName,
        nodes: z.array(NodeId).max(10_000).optional(),
        /** Also resolve for these capabilities, node or no node (`backplane gallery resolve`). */
        capabilities: z.array(Capability).min(1).max(MAX_RESOLVE_CAPABILITIES).optional(),
      })
      .strict(),
    res: z.object({
      backend: BackendName,
      /** The first nodes' resolutions (all of them unless `truncated`). */
      nodes: z.array(NodeResolution).max(REPLY_ROWS),
      /** Nodes resolved, listed or not. */
      total: z.number().int().nonnegative().optional(),
      /**
       * Every node resolved, by capability (what a node gets depends on nothing else): how many
       * nodes, and what they get. A node not listed is found here by its capability.
       */
      byCapability: z.array(CapabilityCount).max(MAX_CAPABILITY_COUNTS).optional(),
      truncated: z.boolean().default(false),
      capabilities: z.array(CapabilityResolution).optional(),
    }),
  },
} as const;

export type ApiMethod = keyof typeof api;
export const API_METHODS = Object.keys(api) as ApiMethod[];
export type ApiRequest<M extends ApiMethod> = z.input<(typeof api)[M]["req"]>;
export type ApiResult<M extends ApiMethod> = z.infer<(typeof api)[M]["res"]>;
/** A reply as it goes on the wire, before the client fills in what a field's default or transform gives. */
export type ApiReply<M extends ApiMethod> = z.input<(typeof api)[M]["res"]>;

export const ApiErrorCode = z.enum([
  "bad_request",
  "not_found",
  "conflict",
  "unavailable",
  "internal",
  "unauthorized",
]);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

export const ApiErrorBody = z.object({
  code: ApiErrorCode,
  message: Text(4096),
  /** The request field at fault, dotted (`nodes.2`), when the error is about one. */
  field: Text(256).optional(),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/** Every reply is an envelope, so an error never has to be guessed from a payload's shape. */
export const ApiEnvelope = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: ApiErrorBody }),
]);
export type ApiEnvelope = z.infer<typeof ApiEnvelope>;

/**
 * The methods that change something. A request to one may carry an idempotency key (the NATS or
 * HTTP header IDEMPOTENCY_HEADER): the controller applies it once per (method, key) and answers a
 * repeat with the first reply, so a client may retry after a timeout without applying it twice.
 */
export const API_WRITES: ReadonlySet<ApiMethod> = new Set<ApiMethod>([
  "ops.install",
  "ops.upgrade",
  "ops.reinstall",
  "ops.delete",
  "ops.rollback",
  "ops.cancel",
  "ops.dismiss",
  "ops.retry",
  "upgrades.check",
  "settings.set",
  "nodes.approve",
  "nodes.drain",
  "nodes.resume",
  "nodes.hold",
  "nodes.unhold",
  "backends.pin",
  "backends.unpin",
  "rollouts.start",
  "rollouts.pause",
  "rollouts.resume",
  "rollouts.promote",
  "rollouts.abort",
  "rollouts.dismiss",
]);

export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "8 to 64 of A-Z a-z 0-9 _ -");

/**
 * A keyed write request as the `requests` bucket keeps it: `pending` while the replica that took
 * it applies it, then `done` with the reply every repeat gets.
 */
export const RequestRecord = z.object({
  v: z.literal(1),
  method: z.string().max(64),
  state: z.enum(["pending", "done"]),
  /** Who took it (replica id) and when. */
  by: Text(128),
  at: z.number().int().nonnegative(),
  reply: ApiEnvelope.optional(),
});
export type RequestRecord = z.infer<typeof RequestRecord>;

export function isApiMethod(name: string): name is ApiMethod {
  return Object.hasOwn(api, name);
}
