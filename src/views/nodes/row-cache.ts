import {
  activeOpsByNode,
  byName,
  nodePhase,
  staleAfter,
  lastSeenOf,
  nodeRow,
  nodeView,
  unreadableNodeRow,
} from "../../format/nodes.js";
import { sameWidths, type Row } from "../../format/table.js";
import type { Heartbeat, Inventory, NodeRecord, OpRecord } from "../../protocol/index.js";
import type { DashStore } from "../../store/index.js";

/** The store's maps a node row is built from. */
export interface NodeRowSources {
  nodes: ReadonlyMap<string, NodeRecord>;
  heartbeats: ReadonlyMap<string, Heartbeat>;
  inventory: ReadonlyMap<string, Inventory>;
  ops: ReadonlyMap<string, OpRecord>;
  unreadable: ReadonlyMap<string, string>;
}

interface Entry {
  rec: NodeRecord;
  hb: Heartbeat | undefined;
  inv: Inventory | undefined;
  active: number;
  phase: number;
  lastSeen: number;
  row: Row;
}

/**
 * The Nodes table's rows, kept between renders (and between visits to the view): a row is built
 * again only when its node's record, heartbeat, inventory or active-op count changed, or the clock
 * moved it past a staleness threshold (nodePhase); otherwise the very same Row object comes back,
 * so the table's memoised lines are not redrawn and the list is not rebuilt. The age itself is
 * not in the row (it changes every second for every node): the view draws it live from
 * `lastSeen`, only for the rows on screen.
 */
export class NodeRowCache {
  private src: NodeRowSources | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly unreadableRows = new Map<string, { error: string; row: Row }>();
  /** Node ids (valid and unreadable) in the table's natural order. */
  private ids: string[] = [];
  private rows: readonly Row[] = [];
  private active: ReadonlyMap<string, number> = new Map();
  /** The earliest time the clock alone changes some row (a node turning stale or lost). */
  private nextPhaseAt = Infinity;

  /** When the node was last heard from (undefined for a node with no valid record). */
  lastSeen(id: string): number | undefined {
    return this.entries.get(id)?.lastSeen;
  }

  rowsAt(src: NodeRowSources, now: number): readonly Row[] {
    const prev = this.src;
    const keysMayChange = !prev || prev.nodes !== src.nodes || prev.unreadable !== src.unreadable;
    const changed =
      keysMayChange ||
      prev.heartbeats !== src.heartbeats ||
      prev.inventory !== src.inventory ||
      prev.ops !== src.ops;
    if (!changed && now <= this.nextPhaseAt) return this.rows;
    if (!prev || prev.ops !== src.ops) this.active = activeOpsByNode(src.ops);
    this.src = src;

    const keysChanged = keysMayChange && this.syncKeys(src);
    let rowsChanged = keysChanged;
    let nextPhaseAt = Infinity;
    // O(fleet) identity checks when a source map was replaced (at most once per
    // store batch: heartbeats come in 1 s batches, which at 10,000 nodes carry ~2,000 of them) or
    // the clock passed a threshold. The store hands over whole maps, not what changed in them;
    // only the rows whose inputs changed are built again, so the cost that counts is O(changes).
    for (const [id, rec] of src.nodes) {
      const hb = src.heartbeats.get(id);
      const inv = src.inventory.get(id);
      const active = this.active.get(id) ?? 0;
      const lastSeen = lastSeenOf(rec, hb);
      const { phase, until } = nodePhase(lastSeen, now, staleAfter(rec, hb));
      if (until < nextPhaseAt) nextPhaseAt = until;
      const e = this.entries.get(id);
      if (e && e.rec === rec && e.inv === inv && e.active === active && e.phase === phase) {
        if (e.hb === hb) continue;
        // Most heartbeats only move the age: keep the cells, give the age's sort its new time.
        if (e.row.cells.seen && sameLook(shown(rec, e.hb), shown(rec, hb))) {
          const row = { ...e.row, cells: { ...e.row.cells, seen: { ...e.row.cells.seen, sort: -lastSeen } } };
          sameWidths(e.row, row);
          this.entries.set(id, { ...e, hb, lastSeen, row });
          rowsChanged = true;
          continue;
        }
      }
      const built = nodeRow(rec, hb, inv, active, now);
      const seen = built.cells.seen!;
      // Drawn live by the view; an age frozen at build time would mislead the filter.
      const row = { ...built, cells: { ...built.cells, seen: { ...seen, text: "" } } };
      this.entries.set(id, { rec, hb, inv, active, phase, lastSeen, row });
      rowsChanged = true;
    }
    this.nextPhaseAt = nextPhaseAt;
    if (rowsChanged) {
      // A new array of the same rows (pointer copies) for the table to see the change.
      this.rows = this.ids.map((id) => this.entries.get(id)?.row ?? this.unreadableRows.get(id)!.row);
    }
    return this.rows;
  }

  /** Bring the key set in line with the sources; true when it changed (the order is then rebuilt). */
  private syncKeys(src: NodeRowSources): boolean {
    let changed = false;
    for (const id of this.entries.keys())
      if (!src.nodes.has(id)) {
        this.entries.delete(id);
        changed = true;
      }
    for (const [id, u] of this.unreadableRows)
      if (src.unreadable.get(id) !== u.error || src.nodes.has(id)) {
        this.unreadableRows.delete(id);
        changed = true;
      }
    for (const [id, error] of src.unreadable)
      if (!src.nodes.has(id) && !this.unreadableRows.has(id)) {
        this.unreadableRows.set(id, { error, row: unreadableNodeRow(id, error) });
        changed = true;
      }
    for (const id of src.nodes.keys())
      if (!this.entries.has(id)) {
        changed = true;
        break;
      }
    if (changed || this.ids.length !== src.nodes.size + this.unreadableRows.size)
      this.ids = [...src.nodes.keys(), ...this.unreadableRows.keys()].sort(byName);
    return changed;
  }
}

/** The heartbeat a node's row shows (as nodeView picks it). */
function shown(rec: NodeRecord, hb: Heartbeat | undefined): Heartbeat {
  return nodeView(rec, hb).hb;
}

/** Whether two heartbeats of a node show the same in its row (all but when they were sent). */
function sameLook(a: Heartbeat, b: Heartbeat): boolean {
  return (
    a === b ||
    (a.capability === b.capability &&
      a.agentVersion === b.agentVersion &&
      a.gpu.vendor === b.gpu.vendor &&
      a.gpu.model === b.gpu.model &&
      a.gpu.vramBytes === b.gpu.vramBytes &&
      a.disk.freeBytes === b.disk.freeBytes &&
      a.disk.totalBytes === b.disk.totalBytes &&
      sameLabels(a.labels, b.labels))
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  // Same keys in the same order: the row joins them in that order.
  let i = 0;
  for (const k in b) if (ka[i++] !== k || a[k] !== b[k]) return false;
  return true;
}

const caches = new WeakMap<DashStore, NodeRowCache>();

/** The one row cache of a store: it outlives the view, so coming back to Nodes costs only what changed. */
export function nodeRowCache(store: DashStore): NodeRowCache {
  let c = caches.get(store);
  if (!c) {
    c = new NodeRowCache();
    caches.set(store, c);
  }
  return c;
}
