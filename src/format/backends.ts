import {
  DEV_SUFFIX,
  isActive,
  needsAttention,
  type InstalledBackend,
  type Inventory,
  type NodeRecord,
  type NodeUpgrades,
  type OpRecord,
  type UpgradeInfo,
} from "../protocol/index.js";
import { DEV_MARK, DRIFT_MARK, opStateLook, UPGRADE_BADGE } from "../theme/symbols.js";
import type { Tone } from "../theme/tokens.js";
import { byName } from "./nodes.js";
import { policyGlyphs, type PolicyLookup } from "./policy.js";
import { nodeStatusText } from "./status.js";
import type { Cell, Column, Row } from "./table.js";
import { GUTTER } from "./table.js";
import { shortDigest } from "./units.js";

export interface BackendEntry {
  name: string;
  isMeta: boolean;
  dev: boolean;
  /** Per node id, the installed row. */
  perNode: Map<string, InstalledBackend>;
}

/** Where each backend can be upgraded or has drifted, per node, from the upgrades bucket. */
export interface UpgradeIndex {
  upgradable: Map<string, Set<string>>;
  drift: Map<string, Set<string>>;
  available: Map<string, string>;
}

export function isDev(name: string): boolean {
  return name.endsWith(`-${DEV_SUFFIX}`);
}

const indexes = new WeakMap<ReadonlyMap<string, Inventory>, Map<string, BackendEntry>>();

/**
 * Every installed backend by name (sorted), with its row per node (nodes sorted too). Built once
 * per inventory map (Backends and a backend's page share it), and then over every node × backend
 * row: an inventory batch is rare outside a fan-out, and the per-node order this keeps would cost
 * a sorted insert per changed row to maintain instead.
 */
export function backendIndex(inventory: ReadonlyMap<string, Inventory>): Map<string, BackendEntry> {
  let idx = indexes.get(inventory);
  if (!idx) {
    idx = buildBackendIndex(inventory);
    indexes.set(inventory, idx);
  }
  return idx;
}

function buildBackendIndex(inventory: ReadonlyMap<string, Inventory>): Map<string, BackendEntry> {
  const out = new Map<string, BackendEntry>();
  const invs = [...inventory.values()].sort((a, b) => byName(a.nodeId, b.nodeId));
  for (const inv of invs) {
    for (const b of inv.backends) {
      let e = out.get(b.name);
      if (!e) {
        e = { name: b.name, isMeta: b.isMeta, dev: isDev(b.name), perNode: new Map() };
        out.set(b.name, e);
      }
      e.perNode.set(inv.nodeId, b);
    }
  }
  return new Map([...out.entries()].sort(([a], [b]) => byName(a, b)));
}

function addTo(m: Map<string, Set<string>>, k: string, v: string) {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

/** Index a node under the backend the row is keyed by and, when there is one, its concrete. */
function addNode(m: Map<string, Set<string>>, backend: string, n: { nodeId: string; concrete?: string }) {
  addTo(m, backend, n.nodeId);
  if (n.concrete) addTo(m, n.concrete, n.nodeId);
}

/**
 * Upgrade rows may be keyed by a meta; index them under the meta and under each node's concrete.
 * O(rows found): every node with an upgradable or drifted backend, rebuilt when either bucket moves.
 */
export function upgradeIndex(
  upgrades: ReadonlyMap<string, UpgradeInfo>,
  perNode: ReadonlyMap<string, NodeUpgrades>,
): UpgradeIndex {
  const idx: UpgradeIndex = { upgradable: new Map(), drift: new Map(), available: new Map() };
  for (const u of upgrades.values()) {
    const avail = u.availableVersion ?? shortDigest(u.availableDigest);
    if (avail) idx.available.set(u.backend, avail);
  }
  for (const { nodeId, rows } of perNode.values()) {
    for (const r of rows) {
      const nv = { nodeId, concrete: r.concrete };
      if (r.drift) addNode(idx.drift, r.backend, nv);
      if (!r.upgradable) continue;
      addNode(idx.upgradable, r.backend, nv);
      const avail = idx.available.get(r.backend);
      if (r.concrete && avail && !idx.available.has(r.concrete)) idx.available.set(r.concrete, avail);
    }
  }
  return idx;
}

/** The op that a node × backend cell tells about: one in flight, else a failed one nobody dismissed. */
export type OpIndex = ReadonlyMap<string, OpRecord>;

const opKeyOf = (nodeId: string, backend: string) => `${nodeId}\u0000${backend}`;

/** Index ops by node and backend (the name asked for and the concrete it resolved to). */
export function opIndex(ops: Iterable<OpRecord>): OpIndex {
  const out = new Map<string, OpRecord>();
  const rank = (o: OpRecord) => (isActive(o) ? 2 : needsAttention(o) ? 1 : 0);
  for (const o of ops) {
    if (rank(o) === 0) continue;
    for (const name of new Set([o.backend, o.target?.name, o.target?.meta])) {
      if (!name) continue;
      const k = opKeyOf(o.nodeId, name);
      const cur = out.get(k);
      if (!cur || rank(o) > rank(cur) || (rank(o) === rank(cur) && o.createdAt > cur.createdAt))
        out.set(k, o);
    }
  }
  return out;
}

/** A cell's op glyph: `▶` in flight (queued `…`, cancelling `⊘`), `✗` failed; with the tone it needs. */
function opMark(
  ops: OpIndex | undefined,
  nodeId: string,
  backend: string,
): { glyph: string; tone: Tone; op: OpRecord } | undefined {
  const o = ops?.get(opKeyOf(nodeId, backend));
  if (!o) return undefined;
  const look = opStateLook[o.state];
  return { glyph: look.glyph, tone: look.tone === "muted" ? "accent" : look.tone, op: o };
}

interface Marks {
  up: boolean;
  drift: boolean;
}

function marksOn(idx: UpgradeIndex, backend: string, nodeId: string): Marks {
  return {
    up: idx.upgradable.get(backend)?.has(nodeId) ?? false,
    drift: idx.drift.get(backend)?.has(nodeId) ?? false,
  };
}

/** An upgrade outranks drift; `otherwise` tones a cell that has neither. */
function marksTone({ up, drift }: Marks, otherwise?: Tone): Tone | undefined {
  return up ? "upgrade" : drift ? "warn" : otherwise;
}

function upgradeTo(available: string | undefined): string {
  return `${UPGRADE_BADGE} ${available ?? "new"}`;
}

/** A meta shows the concrete it points at; a concrete its version, or `missing`. */
function versionText(b: InstalledBackend, missing: string): string {
  return b.isMeta ? `→${b.metadata.meta_backend_for ?? "?"}` : (b.metadata.version ?? missing);
}

/** "1.2.0" or a short digest, then the badges: `1.2.0↑`, `a1b2c3d4≠`; a meta shows its concrete. */
export function installedText(b: InstalledBackend, upgradable: boolean, drift: boolean): string {
  const base = versionText(b, shortDigest(b.metadata.digest)) || "?";
  return `${base}${upgradable ? UPGRADE_BADGE : ""}${drift ? DRIFT_MARK : ""}`;
}

/** `llama-cpp (meta,dev)`, toned as dev, sorted by the bare name. */
function nameCell(name: string, isMeta: boolean, dev: boolean): Cell {
  const tags = [isMeta ? "meta" : "", dev ? DEV_MARK : ""].filter(Boolean);
  return {
    text: tags.length ? `${name} (${tags.join(",")})` : name,
    tone: dev ? "dev" : undefined,
    sort: name,
  };
}

const NAME_WIDTH = 20;
const NODE_CELL = 11;

/** One column per node fits when every node gets a readable cell next to the name column. */
export function matrixFits(nodeCount: number, width: number): boolean {
  return nodeCount > 0 && GUTTER + NAME_WIDTH + nodeCount * (NODE_CELL + 1) <= width;
}

export function matrixColumns(nodeIds: readonly string[]): Column[] {
  return [
    { id: "backend", title: "BACKEND", width: NAME_WIDTH, identity: true },
    ...nodeIds.map((id) => ({ id: `n:${id}`, title: id, width: NODE_CELL })),
  ];
}

export function matrixRows(
  entries: Iterable<BackendEntry>,
  nodeIds: readonly string[],
  idx: UpgradeIndex,
  ops?: OpIndex,
  policy?: PolicyLookup,
): Row[] {
  const rows: Row[] = [];
  for (const e of entries) {
    const cells: Record<string, Cell> = { backend: nameCell(e.name, e.isMeta, e.dev) };
    for (const id of nodeIds) {
      const b = e.perNode.get(id);
      const op = opMark(ops, id, e.name);
      if (!b) {
        cells[`n:${id}`] = op
          ? { text: `${op.glyph} ${op.op.kind}`, tone: op.tone }
          : { text: "·", tone: "muted" };
        continue;
      }
      const marks = marksOn(idx, e.name, id);
      const text = installedText(b, marks.up, marks.drift) + policyGlyphs(policy?.(id, e.name));
      cells[`n:${id}`] = op
        ? { text: `${op.glyph}${text}`, tone: op.tone }
        : { text, tone: marksTone(marks, e.dev ? "dev" : undefined) };
    }
    rows.push({ key: e.name, cells });
  }
  return rows;
}

export const SUMMARY_COLUMNS: Column[] = [
  { id: "backend", title: "BACKEND", width: 16, identity: true },
  { id: "nodes", title: "NODES", width: 7, align: "right" },
  { id: "version", title: "VERSION", width: 12 },
  { id: "upgrade", title: "UPGRADE", width: 14 },
  { id: "drift", title: "DRIFT", width: 6 },
  { id: "digest", title: "DIGEST", width: 8, wide: true },
];

function majority(values: string[]): { top: string; others: number } {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let top = "";
  let best = -1;
  for (const [v, c] of counts) if (c > best) [top, best] = [v, c];
  return { top, others: counts.size - 1 };
}

/** One row per backend with what is true across nodes, for clusters too wide for a matrix. */
export function summaryRows(entries: Iterable<BackendEntry>, nodeTotal: number, idx: UpgradeIndex): Row[] {
  const rows: Row[] = [];
  for (const e of entries) {
    const installed = [...e.perNode.values()];
    const versions = majority(installed.map((b) => versionText(b, "?")));
    const digests = majority(installed.map((b) => shortDigest(b.metadata.digest)));
    const up = idx.upgradable.get(e.name)?.size ?? 0;
    const drift = idx.drift.get(e.name)?.size ?? 0;
    const avail = idx.available.get(e.name);
    rows.push({
      key: e.name,
      cells: {
        backend: nameCell(e.name, e.isMeta, e.dev),
        nodes: { text: `${e.perNode.size}/${nodeTotal}`, sort: e.perNode.size },
        version: { text: versions.others > 0 ? `${versions.top} +${versions.others}` : versions.top },
        upgrade: {
          text: up > 0 ? `${upgradeTo(avail)} ×${up}` : "",
          tone: up > 0 ? "upgrade" : undefined,
          sort: up,
        },
        drift: {
          text: drift > 0 ? `${DRIFT_MARK} ${drift}` : "",
          tone: drift > 0 ? "warn" : undefined,
          sort: drift,
        },
        digest: { text: digests.others > 0 ? `${digests.top}+` : digests.top },
      },
    });
  }
  return rows;
}

// The columns and cells both drill-downs (a backend's nodes, a node's backends) show for one install.
const VERSION_COLUMN: Column = { id: "version", title: "VERSION", width: 10 };
const DIGEST_COLUMN: Column = { id: "digest", title: "DIGEST", width: 8 };
const UPGRADE_COLUMN: Column = { id: "upgrade", title: "UPGRADE", width: 10 };
const INSTALLED_COLUMN: Column = { id: "installed", title: "INSTALLED", width: 20, wide: true };

/** Where the two drill-downs differ: a backend's page spells drift out and warns on the version. */
interface InstallStyle {
  driftText: string;
  versionWarns: boolean;
}

function installCells(
  b: InstalledBackend,
  marks: Marks,
  available: string | undefined,
  style: InstallStyle,
): Record<string, Cell> {
  return {
    version: { text: versionText(b, "-"), tone: style.versionWarns && marks.drift ? "warn" : undefined },
    digest: { text: shortDigest(b.metadata.digest) || "-" },
    upgrade: {
      text: [marks.up ? upgradeTo(available) : "", marks.drift ? style.driftText : ""]
        .filter(Boolean)
        .join(" "),
      tone: marksTone(marks),
    },
    generation: { text: b.generation ?? "-" },
    installed: { text: b.metadata.installed_at ?? "-" },
  };
}

export const BACKEND_NODE_COLUMNS: Column[] = [
  { id: "node", title: "NODE", width: 12, identity: true },
  { id: "status", title: "STATUS", width: 11 },
  VERSION_COLUMN,
  DIGEST_COLUMN,
  UPGRADE_COLUMN,
  { id: "generation", title: "GENERATION", width: 12, wide: true },
  INSTALLED_COLUMN,
];

/** The per-node drill-down of one backend. */
export function backendNodeRows(
  entry: BackendEntry | undefined,
  nodes: ReadonlyMap<string, NodeRecord>,
  idx: UpgradeIndex,
  policy?: PolicyLookup,
): Row[] {
  if (!entry) return [];
  const available = idx.available.get(entry.name);
  const style: InstallStyle = { driftText: `${DRIFT_MARK} drift`, versionWarns: true };
  return [...entry.perNode].map(([nodeId, b]) => {
    const status = nodes.get(nodeId)?.status;
    const cells = installCells(b, marksOn(idx, entry.name, nodeId), available, style);
    const glyphs = policyGlyphs(policy?.(nodeId, entry.name));
    if (glyphs) cells.version = { ...cells.version!, text: `${cells.version!.text}${glyphs}` };
    return {
      key: nodeId,
      dim: status === "offline",
      cells: { node: { text: nodeId }, status: nodeStatusText(status), ...cells },
    };
  });
}

export const NODE_BACKEND_COLUMNS: Column[] = [
  { id: "backend", title: "BACKEND", width: 16, identity: true },
  VERSION_COLUMN,
  DIGEST_COLUMN,
  UPGRADE_COLUMN,
  { id: "generation", title: "GEN", width: 8 },
  { id: "previous", title: "PREV", width: 4, align: "right" },
  INSTALLED_COLUMN,
];

/** The backends installed on one node (node detail). */
export function nodeBackendRows(
  inv: Inventory | undefined,
  idx: UpgradeIndex,
  ops?: OpIndex,
  policy?: PolicyLookup,
): Row[] {
  if (!inv) return [];
  const style: InstallStyle = { driftText: DRIFT_MARK, versionWarns: false };
  return inv.backends.map((b) => {
    const dev = isDev(b.name);
    const cells = installCells(b, marksOn(idx, b.name, inv.nodeId), idx.available.get(b.name), style);
    const op = opMark(ops, inv.nodeId, b.name);
    if (op) cells.version = { text: `${op.glyph}${cells.version!.text}`, tone: op.tone };
    const glyphs = policyGlyphs(policy?.(inv.nodeId, b.name));
    if (glyphs) cells.version = { ...cells.version!, text: `${cells.version!.text}${glyphs}` };
    return {
      key: b.name,
      cells: {
        backend: nameCell(b.name, b.isMeta, dev),
        ...cells,
        previous: { text: String(b.previousGenerations.length), sort: b.previousGenerations.length },
      },
    };
  });
}
