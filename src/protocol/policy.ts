import { z } from "zod";
import { BackendName, Millis, NodeId, Text } from "./ids.js";
import { SCHEMA_VERSION, type InstallTarget } from "./records.js";
import { matchesSelector, parseSelector, type Selector } from "./selector.js";

/**
 * Holds and pins, the operator's policy over upgrades: one `policy` bucket, a record per held
 * node (`hold.<nodeId>`) and per pinned backend (`pin.<backend>`), written by the controller API
 * only. Rollouts skip what they cover, auto-upgrade follows, and a manual op needs `force`.
 */

const v = z.literal(SCHEMA_VERSION, {
  error: `unsupported schema version (this build reads v${SCHEMA_VERSION})`,
});

/** Holds one node may carry: one for every backend and one per backend named, bounded. */
export const MAX_HOLDS_PER_NODE = 32;

export const HoldEntry = z
  .object({
    /** Unset: the node is held for every backend. */
    backend: BackendName.optional(),
    reason: Text(512).optional(),
    by: Text(128),
    at: Millis,
  })
  .strict();
export type HoldEntry = z.infer<typeof HoldEntry>;

export const NodeHolds = z
  .object({
    v,
    kind: z.literal("hold"),
    nodeId: NodeId,
    holds: z.array(HoldEntry).min(1).max(MAX_HOLDS_PER_NODE),
  })
  .strict();
export type NodeHolds = z.infer<typeof NodeHolds>;

export const BackendPin = z
  .object({
    v,
    kind: z.literal("pin"),
    backend: BackendName,
    /** Upgrades of `backend` never take a matching node to another version than this one. */
    version: Text(128).min(1),
    /** A label selector (`gpu=h100`); unset: every node. */
    selector: Text(1024).optional(),
    reason: Text(512).optional(),
    by: Text(128),
    at: Millis,
  })
  .strict();
export type BackendPin = z.infer<typeof BackendPin>;

export const PolicyRecord = z.discriminatedUnion("kind", [NodeHolds, BackendPin]);
export type PolicyRecord = z.infer<typeof PolicyRecord>;

export type PolicyKey = { kind: "hold"; nodeId: string } | { kind: "pin"; backend: string };

export const holdKey = (nodeId: string): string => `hold.${nodeId}`;
export const pinKey = (backend: string): string => `pin.${backend}`;

export function policyKeyOf(r: PolicyRecord): string {
  return r.kind === "hold" ? holdKey(r.nodeId) : pinKey(r.backend);
}

// ---------------------------------------------------------------- what decisions read

/** A held node is skipped by rollouts (for one backend, or all when `backend` is unset). */
export interface Hold {
  nodeId: string;
  backend?: string;
  reason?: string;
}

/** Upgrades never take `backend` to another version than `version` on the nodes the selector matches. */
export interface Pin {
  backend: string;
  version: string;
  /** Unset: every node. */
  selector?: Selector;
  reason?: string;
}

export interface RolloutPolicy {
  holds: readonly Hold[];
  pins: readonly Pin[];
}

export const NO_POLICY: RolloutPolicy = { holds: [], pins: [] };

/**
 * The policy the stored records say. A stored selector that no longer parses (written by
 * another build) pins on every node: the side that changes nothing.
 */
export function policyOf(records: Iterable<PolicyRecord>): RolloutPolicy {
  const holds: Hold[] = [];
  const pins: Pin[] = [];
  for (const r of records) {
    if (r.kind === "hold") {
      for (const h of r.holds) holds.push({ nodeId: r.nodeId, backend: h.backend, reason: h.reason });
      continue;
    }
    const s = r.selector === undefined ? undefined : parseSelector(r.selector);
    pins.push({
      backend: r.backend,
      version: r.version,
      ...(s?.ok ? { selector: s.selector } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    });
  }
  return { holds, pins };
}

/** The hold that covers `backend` (or its concrete build) on a node: a per-backend one first. */
export function holdOn(
  policy: RolloutPolicy,
  nodeId: string,
  backend: string,
  concrete?: string,
): Hold | undefined {
  const mine = policy.holds.filter((h) => h.nodeId === nodeId);
  return (
    mine.find((h) => !!h.backend && (h.backend === backend || h.backend === concrete)) ??
    mine.find((h) => !h.backend)
  );
}

/** "node gpu-01 is held for every backend: reason" */
export function holdText(h: Hold): string {
  const what = h.backend ? `for ${h.backend}` : "for every backend";
  return `node ${h.nodeId} is held ${what}${h.reason ? `: ${h.reason}` : ""}`;
}

/**
 * The pin a move to `target` would break on a node with these labels: one of the backend (as
 * asked, its concrete build, or its meta) whose selector matches and whose version differs.
 */
export function pinAgainst(
  policy: RolloutPolicy,
  backend: string,
  target: Pick<InstallTarget, "name" | "version" | "meta">,
  labels: Readonly<Record<string, string>>,
): Pin | undefined {
  return policy.pins.find(
    (p) =>
      (p.backend === backend || p.backend === target.name || (!!target.meta && p.backend === target.meta)) &&
      (!p.selector || matchesSelector(p.selector, labels)) &&
      p.version !== target.version,
  );
}

/** "llama-cpp is pinned to 1.0.0 on gpu-01 (reason)" */
export function pinText(p: Pin, nodeId: string): string {
  return `${p.backend} is pinned to ${p.version} on ${nodeId}${p.reason ? ` (${p.reason})` : ""}`;
}
