import type { z } from "zod";
import { sanitizeToken } from "./ids.js";
import { DEFAULT_PREFIX } from "./subjects.js";
import { CheckRound, Inventory, Lease, NodeRecord, NodeUpgrades, OpRecord, UpgradeInfo } from "./records.js";
import { Settings } from "./settings.js";
import { RequestRecord } from "./api.js";
import { Rollout, RolloutNode } from "./rollout.js";
import { holdKey, pinKey, PolicyRecord, policyKeyOf, type PolicyKey } from "./policy.js";

/** The roles that write to KV. The dashboard and the CLI only read (they write through the API). */
export type Writer = "controller" | "agent";

export interface BucketKv {
  /** Revisions kept per key. */
  history: number;
  /**
   * "lease": the bucket's max age is the lease TTL (the role's `leaseTtlMs`, else LEASE_TTL_MS);
   * "requests": REQUEST_DEDUPE_TTL_MS. Bucket-level because Debian's nats-server 2.9 ignores
   * per-key TTLs. Unset: keep forever.
   */
  ttl?: "lease" | "requests";
  /** Every bucket follows the role's `replicas` (1 on a single server, 3 or 5 on a cluster). */
  replicas: "cluster";
  /** Largest value the server accepts; unset: the server's limit. */
  maxValueBytes?: number;
}

/** How a bucket's KV keys are made from what they identify, and read back. */
export interface KeyShape<P> {
  /** For people: what a key is. */
  readonly describe: string;
  build(parts: P): string;
  /** null for a key this bucket's writers never make. */
  parse(key: string): P | null;
}

/** A bucket holding exactly one record, under a fixed key. */
export interface OneKey<K extends string> extends KeyShape<K> {
  readonly only: K;
}

/** Any key shape, whatever it identifies. */
export interface AnyKeyShape {
  readonly describe: string;
  build(parts: never): string;
  parse(key: string): unknown;
}

export interface BucketSpec<S extends z.ZodType = z.ZodType, K extends AnyKeyShape = AnyKeyShape> {
  schema: S;
  kv: BucketKv;
  key: K;
  /** Who may write it (the NATS permissions in deploy/ and docs/protocol.md follow this). */
  writers: readonly Writer[];
  /**
   * The key a record's body names (its node, its op). NATS permissions confine an agent to keys
   * (`$KV.<p>_ops.<self>.>`, its own inventory key), not to what it writes in them: every reader
   * believes the key and drops a record whose body names another (see keyDisagreement).
   */
  bodyKey?: (value: z.infer<S>) => string;
}

const MiB = 1024 * 1024;

/** One subject-safe token: node ids, so a permission can confine an agent to its own keys. */
const nodeKey: KeyShape<string> = {
  describe: "node id",
  build: sanitizeToken,
  parse: (key) => (key.length > 0 && sanitizeToken(key) === key ? key : null),
};

/** KV key of an op record: the node id first so permissions can confine an agent to `<self>.>`. */
const opKeyShape: KeyShape<{ nodeId: string; opId: string }> = {
  describe: "<nodeId>.<opId>",
  build: ({ nodeId, opId }) => `${sanitizeToken(nodeId)}.${sanitizeToken(opId)}`,
  parse(key) {
    const parts = key.split(".");
    if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
    return { nodeId: parts[0], opId: parts[1] };
  },
};

/** A rollout id, as it is (a single safe token). */
const rolloutKey: KeyShape<string> = { ...nodeKey, describe: "rollout id" };

/** KV key of a rollout's row for one node: the rollout id first, so one rollout's rows are `<id>.>`. */
const rolloutNodeKeyShape: KeyShape<{ rolloutId: string; nodeId: string }> = {
  describe: "<rolloutId>.<nodeId>",
  build: ({ rolloutId, nodeId }) => `${sanitizeToken(rolloutId)}.${sanitizeToken(nodeId)}`,
  parse(key) {
    const parts = key.split(".");
    if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
    return { rolloutId: parts[0], nodeId: parts[1] };
  },
};

/** A hold by node id, a pin by backend name: `hold.<nodeId>`, `pin.<backend>` (names may hold dots). */
const policyKeyShape: KeyShape<PolicyKey> = {
  describe: "hold.<nodeId> or pin.<backend>",
  build: (k) => (k.kind === "hold" ? holdKey(sanitizeToken(k.nodeId)) : pinKey(k.backend)),
  parse(key) {
    const dot = key.indexOf(".");
    const kind = key.slice(0, dot);
    const rest = key.slice(dot + 1);
    if (dot < 0 || rest.length === 0) return null;
    if (kind === "hold") return sanitizeToken(rest) === rest ? { kind, nodeId: rest } : null;
    if (kind === "pin") return { kind, backend: rest };
    return null;
  },
};

/** A name used as the key as it is (the writer checks it is a valid KV key). */
const nameKey = (describe: string): KeyShape<string> => ({
  describe,
  build: (name) => name,
  parse: (key) => (key.length > 0 ? key : null),
});

const oneKey = <K extends string>(only: K): OneKey<K> => ({
  describe: only,
  only,
  build: () => only,
  parse: (key) => (key === only ? only : null),
});

/** Keeps each row's schema and key types exact while checking the row's shape. */
const bucket = <S extends z.ZodType, K extends AnyKeyShape>(spec: BucketSpec<S, K>): BucketSpec<S, K> => spec;

/**
 * Every KV bucket, one row each: the single place a bucket is declared. Names, schemas, KV
 * options and key shapes derive from it; the controller's mirror and the dashboard's feed list
 * every row, so a new row does not compile until each has decided what to do with it.
 */
export const BUCKETS = {
  nodes: bucket({
    schema: NodeRecord,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 1 * MiB },
    key: nodeKey,
    writers: ["controller"],
    bodyKey: (node) => nodeKey.build(node.id),
  }),
  inventory: bucket({
    schema: Inventory,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 4 * MiB },
    key: nodeKey,
    writers: ["agent"],
    bodyKey: (inv) => nodeKey.build(inv.nodeId),
  }),
  ops: bucket({
    schema: OpRecord,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 1 * MiB },
    key: opKeyShape,
    writers: ["controller", "agent"],
    bodyKey: (op) => opKeyShape.build({ nodeId: op.nodeId, opId: op.id }),
  }),
  upgrades: bucket({
    schema: UpgradeInfo,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 1 * MiB },
    key: nameKey("backend name"),
    writers: ["controller"],
  }),
  // Per node, what the last check found there: the per-node half of `upgrades`.
  upgrade_nodes: bucket({
    schema: NodeUpgrades,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 1 * MiB },
    key: nodeKey,
    writers: ["controller"],
    bodyKey: (u) => nodeKey.build(u.nodeId),
  }),
  settings: bucket({
    schema: Settings,
    kv: { history: 5, replicas: "cluster" },
    key: oneKey("cluster"),
    writers: ["controller"],
  }),
  checks: bucket({
    schema: CheckRound,
    kv: { history: 1, replicas: "cluster" },
    key: oneKey("upgrades"),
    writers: ["controller"],
  }),
  rollouts: bucket({
    schema: Rollout,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 1 * MiB },
    key: rolloutKey,
    writers: ["controller"],
  }),
  rollout_nodes: bucket({
    schema: RolloutNode,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 64 * 1024 },
    key: rolloutNodeKeyShape,
    writers: ["controller"],
  }),
  // Holds and pins: small records, one per held node and per pinned backend.
  policy: bucket({
    schema: PolicyRecord,
    kv: { history: 1, replicas: "cluster", maxValueBytes: 64 * 1024 },
    key: policyKeyShape,
    writers: ["controller"],
    bodyKey: policyKeyOf,
  }),
  leases: bucket({
    schema: Lease,
    kv: { history: 1, replicas: "cluster", ttl: "lease" },
    key: nameKey("loop name"),
    writers: ["controller"],
  }),
  // Keyed write requests, so a retry after a timeout is answered, not applied again (API_WRITES).
  requests: bucket({
    schema: RequestRecord,
    kv: { history: 1, replicas: "cluster", ttl: "requests", maxValueBytes: 1 * MiB },
    key: nameKey("<method>.<idempotency key>"),
    writers: ["controller"],
  }),
} as const;

export type Buckets = typeof BUCKETS;
export type BucketKey = keyof Buckets;
export const BUCKET_KEYS = Object.keys(BUCKETS) as BucketKey[];

/** The record type a bucket holds. */
export type BucketValue<B extends BucketKey> = z.infer<Buckets[B]["schema"]>;

/** The buckets that hold one record under a fixed key (read as a value, not a map). */
export type OneKeyBucket = {
  [B in BucketKey]: Buckets[B]["key"] extends OneKey<string> ? B : never;
}[BucketKey];

/** Bucket names on the server; the prefix keeps two installations on one NATS apart. */
export function bucketNames(prefix: string = DEFAULT_PREFIX): { readonly [B in BucketKey]: string } {
  const p = prefix.replace(/\./g, "_");
  return Object.fromEntries(BUCKET_KEYS.map((b) => [b, `${p}_${b}`])) as { [B in BucketKey]: string };
}
export type BucketNames = ReturnType<typeof bucketNames>;

export function opKey(nodeId: string, opId: string): string {
  return BUCKETS.ops.key.build({ nodeId, opId });
}

export function parseOpKey(key: string): { nodeId: string; opId: string } | null {
  return BUCKETS.ops.key.parse(key);
}

export function rolloutNodeKey(rolloutId: string, nodeId: string): string {
  return BUCKETS.rollout_nodes.key.build({ rolloutId, nodeId });
}

export const SETTINGS_KEY = BUCKETS.settings.key.only;
export const CHECKS_KEY = BUCKETS.checks.key.only;

/** The lease the controller replicas contend for; its holder is the leader. */
export const CONTROLLER_LEASE_KEY = "controller";

/** The fixed key of a bucket that holds one record (settings); undefined for the others. */
export function onlyKey(b: BucketKey): string | undefined {
  const key: AnyKeyShape & { readonly only?: string } = BUCKETS[b].key;
  return key.only;
}

/**
 * Why a record read under `key` is not to be believed: its body names another key (see
 * BucketSpec.bodyKey). Null when they agree, or the bucket's bodies name no key.
 */
export function keyDisagreement<B extends BucketKey>(
  b: B,
  key: string,
  value: BucketValue<B>,
): string | null {
  // Each row's bodyKey takes that row's record; `value` is B's, so the row is the right one.
  const spec: { bodyKey?: (value: never) => string } = BUCKETS[b];
  const named = spec.bodyKey?.(value as never);
  return named === undefined || named === key ? null : `its body names ${named}`;
}
