import { isMeta, type GalleryCatalog, type GalleryEntry } from "../../gallery/index.js";
import {
  holdOn,
  holdText,
  pinAgainst,
  pinText,
  type InstallTarget,
  type InstalledBackend,
  type Inventory,
  type NodeRecord,
  type OpKind,
  type OpRecord,
  type RolloutPolicy,
  type Selector,
} from "../../protocol/index.js";
import { matchesSelector } from "../../protocol/selector.js";

export interface AdmissionRequest {
  kind: OpKind;
  backend: string;
  /** Explicit nodes; omitted means every node that has the backend installed. */
  nodes?: string[];
  /**
   * Instead of nodes: the nodes whose labels match. Upgrade, reinstall and delete take those of
   * them that have the backend (as with no nodes named, one without it is no refusal); install
   * and rollback take every match.
   */
  selector?: Selector;
  /**
   * install only: an image no gallery lists, installed under `backend` as its name (LocalAI's
   * "install external"). Its metadata.json then has the image as `uri` and no `gallery_url`, and
   * reinstall and upgrade pull that image again.
   */
  source?: string;
  /** Rollback only: the kept generation to go back to (it must be kept on every target node). */
  generation?: string;
  /** Act on held nodes, and past a pinned version, too. */
  force?: boolean;
}

export interface ClusterFacts {
  nodes: ReadonlyMap<string, NodeRecord>;
  inventories: ReadonlyMap<string, Inventory>;
  /** Ops in queued, running or cancelling state. */
  activeOps: readonly OpRecord[];
  catalog: GalleryCatalog;
  /** Holds and pins; none when unset. */
  policy?: RolloutPolicy;
}

export type RefusalCode = "not_found" | "conflict" | "unresolvable";

export type NodePlan =
  | { nodeId: string; action: "admit"; target?: InstallTarget }
  | { nodeId: string; action: "existing"; opId: string; concrete?: string }
  | { nodeId: string; action: "refuse"; code: RefusalCode; error: string };

export type AdmissionPlan =
  | { ok: true; plans: NodePlan[] }
  | { ok: false; code: "not_found" | "bad_request"; error: string; field?: string };

const NEEDS_TARGET: readonly OpKind[] = ["install", "upgrade", "reinstall"];

/** Why a request is refused while another kind of op holds (node, backend). */
export function activeConflict(active: OpRecord): string {
  const article = /^[aeiou]/.test(active.kind) ? "an" : "a";
  return `${article} ${active.kind} of ${active.backend} is already ${active.state} on node ${active.nodeId} (${active.id})`;
}

/** The row of an inventory for `name`, ignoring synthetic alias rows (name != metadata.name). */
export function installedRow(inv: Inventory | undefined, name: string): InstalledBackend | undefined {
  return inv?.backends.find((b) => b.name === name && b.metadata.name === name);
}

export function targetFromEntry(concrete: GalleryEntry, meta?: string): InstallTarget {
  return {
    name: concrete.name,
    uri: concrete.uri!,
    mirrors: concrete.mirrors.slice(0, 16),
    sha256: concrete.sha256,
    version: concrete.version,
    alias: concrete.alias,
    galleryUrl: concrete.galleryUrl,
    meta,
  };
}

/**
 * Decide, per target node, whether a request becomes a new op, returns the op already active
 * for that (node, backend), or is refused with a reason. Metas resolve per node capability.
 */
export function planAdmission(req: AdmissionRequest, facts: ClusterFacts): AdmissionPlan {
  const { catalog } = facts;
  const inGallery = !!catalog.find(req.backend) || catalog.withAlias(req.backend).length > 0;
  const installedOn = [...facts.inventories.values()]
    .filter((inv) => installedRow(inv, req.backend))
    .map((inv) => inv.nodeId)
    .sort();

  if (req.source !== undefined && req.kind !== "install") {
    return { ok: false, code: "bad_request", field: "source", error: "an image source is for install only" };
  }
  if (req.kind === "install" && !inGallery && req.source === undefined) {
    return {
      ok: false,
      code: "not_found",
      field: "backend",
      error: `unknown backend ${req.backend}: not in any gallery`,
    };
  }
  let nodeIds = req.nodes;
  const everyMatch = req.kind === "install" || req.kind === "rollback";
  if (!nodeIds && req.selector) {
    const sel = req.selector;
    const matching = [...facts.nodes.values()]
      .filter((n) => matchesSelector(sel, n.last.labels))
      .map((n) => n.id)
      .sort();
    const installed = new Set(installedOn);
    nodeIds = everyMatch ? matching : matching.filter((id) => installed.has(id));
    if (nodeIds.length === 0) {
      return {
        ok: false,
        code: "not_found",
        field: "selector",
        error:
          matching.length === 0
            ? `no node matches the selector ${sel.source}`
            : `no node matching the selector ${sel.source} has ${req.backend} installed (${matching.length} match)`,
      };
    }
  }
  if (!nodeIds) {
    if (everyMatch) {
      return {
        ok: false,
        code: "bad_request",
        field: "nodes",
        error: `${req.kind} needs the nodes to act on (nodes or a selector)`,
      };
    }
    if (installedOn.length === 0) {
      return {
        ok: false,
        code: "not_found",
        field: "backend",
        error: inGallery
          ? `no node has ${req.backend} installed`
          : `unknown backend ${req.backend}: not in any gallery and not installed on any node`,
      };
    }
    nodeIds = installedOn;
  }
  const plans = [...new Set(nodeIds)].map((nodeId) => planNode(req, nodeId, facts));
  return { ok: true, plans };
}

function planNode(req: AdmissionRequest, nodeId: string, facts: ClusterFacts): NodePlan {
  const refuse = (code: RefusalCode, error: string): NodePlan => ({ nodeId, action: "refuse", code, error });
  const node = facts.nodes.get(nodeId);
  if (!node) return refuse("not_found", `unknown node ${nodeId}`);
  if (node.status === "pending") return refuse("conflict", `node ${nodeId} is pending approval`);
  if (node.status === "draining") return refuse("conflict", `node ${nodeId} is draining`);

  let target: InstallTarget | undefined;
  if (NEEDS_TARGET.includes(req.kind)) {
    const t = resolveTarget(req, node, facts);
    if (typeof t === "string") return refuse("unresolvable", t);
    target = t;
  } else {
    const row = installedRow(facts.inventories.get(nodeId), req.backend);
    if (!row) return refuse("not_found", `${req.backend} is not installed on node ${nodeId}`);
    if (req.kind === "rollback" && row.previousGenerations.length === 0) {
      return refuse("conflict", `no previous generation of ${req.backend} on node ${nodeId} to roll back to`);
    }
    if (req.kind === "rollback" && req.generation && !row.previousGenerations.includes(req.generation)) {
      return refuse(
        "not_found",
        `node ${nodeId} keeps no generation ${req.generation} of ${req.backend} (kept: ${row.previousGenerations.join(", ")})`,
      );
    }
  }

  const policy = facts.policy;
  if (policy && !req.force) {
    // A hold freezes the node for every kind of op; a pin stops a move to another version.
    const hold = holdOn(policy, nodeId, req.backend, target?.name);
    if (hold) return refuse("conflict", `${holdText(hold)}; force overrides it (--force)`);
    const pin = target && pinAgainst(policy, req.backend, target, node.last.labels);
    if (target && pin) {
      const to = target.version ? `${target.name} ${target.version}` : `${target.name} (unversioned)`;
      return refuse("conflict", `${pinText(pin, nodeId)}, not ${to}; force overrides it (--force)`);
    }
  }

  const active = facts.activeOps.find(
    (op) =>
      op.nodeId === nodeId &&
      (op.backend === req.backend || (!!target && !!op.target && op.target.name === target.name)),
  );
  if (active) {
    if (active.kind === req.kind) {
      return { nodeId, action: "existing", opId: active.id, concrete: active.target?.name };
    }
    return refuse("conflict", activeConflict(active));
  }
  return { nodeId, action: "admit", target };
}

/** The install target for one node, or why there is none. */
function resolveTarget(req: AdmissionRequest, node: NodeRecord, facts: ClusterFacts): InstallTarget | string {
  const { catalog } = facts;
  const capability = node.last.capability;
  const row = installedRow(facts.inventories.get(node.id), req.backend);
  if (req.kind === "upgrade" && !row) return `${req.backend} is not installed on node ${node.id}`;
  if (req.source !== undefined) return { name: req.backend, uri: req.source, mirrors: [] };

  if (row && !row.isMeta && req.kind !== "install") {
    // An installed concrete upgrades to its own gallery entry, whatever the node's capability.
    const entry = catalog.find(row.metadata.name);
    // Installed from an image no gallery lists: pull that image again.
    if (!entry && row.metadata.uri && !row.metadata.gallery_url)
      return { name: row.metadata.name, uri: row.metadata.uri, mirrors: [] };
    if (!entry) return `${row.metadata.name} is not in any gallery (installed from elsewhere?)`;
    if (isMeta(entry)) {
      return `${entry.name} is now a meta backend in the gallery; install it again to switch to its builds`;
    }
    return targetFromEntry(entry);
  }
  const r = catalog.resolve(req.backend, capability);
  if (!r.ok) return r.code === "unknown" ? r.error : `${r.error} (node ${node.id})`;
  return targetFromEntry(r.concrete, r.meta?.name);
}
