import { isMeta, isVersionUpgrade, type GalleryCatalog, type GalleryEntry } from "../../gallery/index.js";
import { looksLikeOci } from "../../oci/reference.js";
import {
  SCHEMA_VERSION,
  type Inventory,
  type NodeUpgradeRow,
  type NodeUpgrades,
  type NodeVersion,
  type UpgradeFindings,
  type UpgradeInfo,
} from "../../protocol/index.js";

/** One installed concrete on one node, to be compared with its gallery entry. */
export interface CheckRow {
  /** The upgrades key: the meta it was installed through, else the concrete's own name. */
  row: string;
  nodeId: string;
  concrete: string;
  installedVersion?: string;
  installedDigest?: string;
  entry: GalleryEntry;
  /** Decided by versions; false means the OCI digest decides. */
  byVersion: boolean;
}

export interface UpgradeCheckPlan {
  rows: CheckRow[];
  /** Distinct OCI URIs to HEAD this round, each once. */
  uris: string[];
  /** Rows dropped by the development-variant rule, for the log. */
  suppressed: Array<{ nodeId: string; row: string; because: string }>;
}

/** What a HEAD (and, for an index, its platform list) says a URI points at now. */
export interface UriDigest {
  digest: string;
  /** Digests of the platform manifests when `digest` is a multi-arch index. */
  manifests?: string[];
}
export type DigestLookup = ReadonlyMap<string, UriDigest | { error: string }>;

/**
 * Which installed backends to compare and which URIs need a registry HEAD. Synthetic alias rows
 * (name != metadata.name) and meta pointers are skipped (their concretes are checked), and a
 * stable backend is not offered on a node where its development twin is installed (seed 000).
 */
export function planUpgradeCheck(
  inventories: readonly Inventory[],
  catalog: GalleryCatalog,
): UpgradeCheckPlan {
  const plan: UpgradeCheckPlan = { rows: [], uris: [], suppressed: [] };
  const uris = new Set<string>();
  // A handful of gallery entries for 300,000 rows at 10,000 nodes: judge each URI once.
  const oci = new Map<string, boolean>();
  const looksOci = (uri: string) => {
    let v = oci.get(uri);
    if (v === undefined) oci.set(uri, (v = looksLikeOci(uri)));
    return v;
  };
  // O(installed rows): a check judges every row of every node.
  for (const inv of inventories) {
    const real = inv.backends.filter((b) => b.name === b.metadata.name);
    const installed = new Set(real.map((b) => b.metadata.name));
    const metaOf = new Map<string, string>();
    for (const b of real) {
      const target = b.metadata.meta_backend_for;
      if (b.isMeta && target && !metaOf.has(target)) metaOf.set(target, b.name);
    }
    for (const b of real) {
      if (b.isMeta) continue;
      const concrete = b.metadata.name;
      const row = metaOf.get(concrete) ?? concrete;
      const devTwin = [row, concrete]
        .filter((n) => !catalog.isDevelopment(n))
        .map((n) => catalog.devNameOf(n))
        .find((dev) => installed.has(dev));
      if (devTwin) {
        plan.suppressed.push({ nodeId: inv.nodeId, row, because: `${devTwin} is installed` });
        continue;
      }
      const entry = catalog.find(concrete);
      if (!entry || isMeta(entry) || !entry.uri) continue;
      const byVersion = !!entry.version;
      if (!byVersion) {
        if (!looksOci(entry.uri)) continue;
        uris.add(entry.uri);
      }
      plan.rows.push({
        row,
        nodeId: inv.nodeId,
        concrete,
        installedVersion: b.metadata.version || undefined,
        installedDigest: b.metadata.digest || undefined,
        entry,
        byVersion,
      });
    }
  }
  plan.uris = [...uris].sort();
  return plan;
}

interface Judged {
  r: CheckRow;
  upgradable: boolean;
  /** Comparable identity of what is installed, for drift; undefined when unknown. */
  key?: string;
  available?: UriDigest;
}

function judge(r: CheckRow, digests: DigestLookup): Judged | null {
  if (r.byVersion) {
    const available = r.entry.version!;
    const upgradable = r.installedVersion ? isVersionUpgrade(r.installedVersion, available) : true;
    return { r, upgradable, key: `v:${r.installedVersion ?? ""}` };
  }
  const d = digests.get(r.entry.uri!);
  if (!d || "error" in d) return null;
  const current =
    !!r.installedDigest &&
    (r.installedDigest === d.digest || (d.manifests ?? []).includes(r.installedDigest));
  // Nodes on the current image compare equal whatever platform manifest they pulled.
  return { r, upgradable: !current, key: current ? "current" : `d:${r.installedDigest ?? ""}`, available: d };
}

/**
 * Turn a plan plus this round's digests into one UpgradeInfo per backend that has an upgrade
 * or drift. Semver when both versions parse (a gallery downgrade is not an upgrade), other
 * version strings by inequality, else the digest, where any platform manifest of the current
 * index counts as current. Drift: nodes whose installed identity differs from the majority of
 * nodes with the same concrete.
 */
export function computeUpgrades(
  plan: UpgradeCheckPlan,
  digests: DigestLookup,
  now: number,
): UpgradeFindings[] {
  const byRow = new Map<string, Judged[]>();
  for (const r of plan.rows) {
    const j = judge(r, digests);
    if (!j) continue;
    const list = byRow.get(r.row) ?? [];
    list.push(j);
    byRow.set(r.row, list);
  }
  const out: UpgradeFindings[] = [];
  for (const [row, judged] of [...byRow].sort(([a], [b]) => a.localeCompare(b))) {
    const drift = new Set<Judged>();
    const byConcrete = new Map<string, Judged[]>();
    for (const j of judged) {
      const group = byConcrete.get(j.r.concrete);
      if (group) group.push(j);
      else byConcrete.set(j.r.concrete, [j]);
    }
    let majority: Judged | undefined;
    for (const group of byConcrete.values()) {
      const counts = new Map<string, { n: number; first: Judged }>();
      for (const j of group) {
        const c = counts.get(j.key!) ?? { n: 0, first: j };
        c.n++;
        counts.set(j.key!, c);
      }
      let best: { n: number; first: Judged } | undefined;
      for (const c of counts.values()) if (!best || c.n > best.n) best = c;
      majority ??= best!.first;
      if (counts.size > 1) for (const j of group) if (j.key !== best!.first.key) drift.add(j);
    }
    const upgradable = judged.filter((j) => j.upgradable);
    if (upgradable.length === 0 && drift.size === 0) continue;
    const lead = upgradable[0] ?? majority!;
    const nv = (j: Judged): NodeVersion => ({
      nodeId: j.r.nodeId,
      concrete: j.r.concrete === row ? undefined : j.r.concrete,
      version: j.r.installedVersion,
      digest: j.r.installedDigest,
      upgradable: j.upgradable,
    });
    const byNode = (a: Judged, b: Judged) => a.r.nodeId.localeCompare(b.r.nodeId);
    out.push({
      v: SCHEMA_VERSION,
      backend: row,
      installedVersion: majority!.r.installedVersion,
      availableVersion: lead.r.entry.version,
      installedDigest: majority!.r.installedDigest,
      availableDigest: lead.available?.digest,
      via: upgradable.some((j) => j.r.byVersion) ? "version" : upgradable.length > 0 ? "digest" : "drift",
      installed: judged.length,
      upgradable: upgradable.length,
      drifted: drift.size,
      nodes: [...judged].sort(byNode).map(nv),
      drift: [...drift].sort(byNode).map(nv),
      checkedAt: now,
    });
  }
  return out;
}

/** A backend's summary as stored: the findings without their rows per node. */
export function summaryOf(f: UpgradeFindings): UpgradeInfo {
  const { nodes: _nodes, drift: _drift, ...summary } = f;
  return summary;
}

/**
 * The findings regrouped by node: one record per node with a row for each backend that can be
 * upgraded or has drifted there. Nodes with neither have no record. O(rows found), once per round.
 */
export function findingsByNode(findings: readonly UpgradeFindings[]): Map<string, NodeUpgrades> {
  const rows = new Map<string, Map<string, NodeUpgradeRow>>();
  const rowOf = (nodeId: string, backend: string, n: NodeVersion): NodeUpgradeRow => {
    let mine = rows.get(nodeId);
    if (!mine) rows.set(nodeId, (mine = new Map()));
    let r = mine.get(backend);
    if (!r) {
      const { nodeId: _id, ...rest } = n;
      mine.set(backend, (r = { backend, ...rest, drift: false }));
    }
    return r;
  };
  for (const f of findings) {
    for (const n of f.nodes) if (n.upgradable) rowOf(n.nodeId, f.backend, n);
    for (const n of f.drift) rowOf(n.nodeId, f.backend, n).drift = true;
  }
  const out = new Map<string, NodeUpgrades>();
  for (const [nodeId, mine] of [...rows].sort(([a], [b]) => a.localeCompare(b)))
    out.set(nodeId, { v: SCHEMA_VERSION, nodeId, rows: [...mine.values()] });
  return out;
}
