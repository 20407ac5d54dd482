import {
  holdKey,
  matchesSelector,
  parseSelector,
  pinKey,
  type BackendPin,
  type HoldEntry,
  type Inventory,
  type NodeRecord,
  type PolicyRecord,
} from "../protocol/index.js";
import { HELD_MARK, PINNED_MARK } from "../theme/symbols.js";

/** Holds and pins as the CLI and the dashboard show them (the controller decides with protocol/policy). */

/** The holds of a node, from the policy records by key. */
export function holdsOf(policy: ReadonlyMap<string, PolicyRecord>, nodeId: string): HoldEntry[] {
  const r = policy.get(holdKey(nodeId));
  return r?.kind === "hold" ? r.holds : [];
}

/** The hold that covers a backend (by any of its names), a per-backend one first. */
export function holdCovering(
  holds: readonly HoldEntry[],
  names: ReadonlyArray<string | undefined>,
): HoldEntry | undefined {
  return holds.find((h) => !!h.backend && names.includes(h.backend)) ?? holds.find((h) => !h.backend);
}

/** A pin's selector, parsed once per record (a lookup runs per node × backend cell). */
const parsedSelectors = new WeakMap<BackendPin, ReturnType<typeof parseSelector>>();

function pinSelector(r: BackendPin): ReturnType<typeof parseSelector> | undefined {
  if (r.selector === undefined) return undefined;
  let s = parsedSelectors.get(r);
  if (!s) {
    s = parseSelector(r.selector);
    parsedSelectors.set(r, s);
  }
  return s;
}

/** The pin of any of these backend names that applies to a node with these labels. */
export function pinCovering(
  policy: ReadonlyMap<string, PolicyRecord>,
  labels: Readonly<Record<string, string>>,
  names: ReadonlyArray<string | undefined>,
): BackendPin | undefined {
  for (const name of names) {
    if (!name) continue;
    const r = policy.get(pinKey(name));
    if (r?.kind !== "pin") continue;
    // A selector this build cannot read pins everywhere, as the controller takes it.
    const s = pinSelector(r);
    if (!s || !s.ok || matchesSelector(s.selector, labels)) return r;
  }
  return undefined;
}

/** "held for every backend: why", "held for whisper" */
export function holdLine(h: HoldEntry): string {
  return `held for ${h.backend ?? "every backend"}${h.reason ? `: ${h.reason}` : ""}`;
}

/** "pinned to 1.0.0 on gpu=h100: why" */
export function pinLine(p: BackendPin): string {
  return `pinned to ${p.version}${p.selector ? ` on ${p.selector}` : ""}${p.reason ? `: ${p.reason}` : ""}`;
}

/** A node's holds in one short cell: `all: why`, or the backends held. */
export function holdsCell(holds: readonly HoldEntry[]): string {
  if (holds.length === 0) return "";
  const all = holds.find((h) => !h.backend);
  if (all) return all.reason ? `all: ${all.reason}` : "all";
  return holds.map((h) => h.backend).join(",");
}

export interface PolicyMark {
  hold?: HoldEntry;
  pin?: BackendPin;
}

/** What covers one node × backend cell; undefined when nothing does. */
export type PolicyLookup = (nodeId: string, backend: string) => PolicyMark | undefined;

/**
 * Holds and pins per cell. A backend is known by its own name, and on a node also by the meta
 * that points at it there (a pin of `llama-cpp` covers that node's `cuda12-llama-cpp`) and the
 * concrete a meta row points at.
 */
export function policyLookup(
  policy: ReadonlyMap<string, PolicyRecord>,
  nodes: ReadonlyMap<string, NodeRecord>,
  inventory: ReadonlyMap<string, Inventory>,
): PolicyLookup {
  if (policy.size === 0) return () => undefined;
  return (nodeId, backend) => {
    const inv = inventory.get(nodeId);
    const list = (inv && namesOn(inv).get(backend)) ?? [backend];
    const hold = holdCovering(holdsOf(policy, nodeId), list);
    const pin = pinCovering(policy, nodes.get(nodeId)?.last.labels ?? {}, list);
    return hold || pin ? { ...(hold ? { hold } : {}), ...(pin ? { pin } : {}) } : undefined;
  };
}

const namesByInventory = new WeakMap<Inventory, Map<string, string[]>>();

/**
 * Every name a backend goes by on one node (itself first, then in row order: the concrete a meta
 * row points at, the metas pointing at it), for the backends that have another; built once per
 * inventory record rather than by a scan of its rows for every cell.
 */
function namesOn(inv: Inventory): Map<string, string[]> {
  let m = namesByInventory.get(inv);
  if (m) return m;
  m = new Map();
  const add = (name: string, other: string) => {
    const names = m!.get(name) ?? [name];
    if (!names.includes(other)) names.push(other);
    m!.set(name, names);
  };
  for (const b of inv.backends) {
    const target = b.isMeta ? b.metadata.meta_backend_for : undefined;
    if (!target) continue;
    add(b.name, target);
    add(target, b.name);
  }
  namesByInventory.set(inv, m);
  return m;
}

/** The glyphs of a cell: `⏸` held, `⊤` pinned. */
export function policyGlyphs(m: PolicyMark | undefined): string {
  return `${m?.hold ? HELD_MARK : ""}${m?.pin ? PINNED_MARK : ""}`;
}

/** The legend the views show under a table with marks on it. */
export const POLICY_LEGEND = `${HELD_MARK} held · ${PINNED_MARK} pinned`;

/**
 * What holds and pins cover one backend across these nodes, in one line:
 * `⊤ llama-cpp pinned to 1.0.0 on gpu=h100 · ⏸ held on gpu-01 (debugging), gpu-02`.
 */
export function backendPolicyLine(backend: string, nodeIds: readonly string[], lookup: PolicyLookup): string {
  const pins = new Map<string, BackendPin>();
  const held: string[] = [];
  for (const id of nodeIds) {
    const m = lookup(id, backend);
    if (m?.pin) pins.set(m.pin.backend, m.pin);
    if (m?.hold) held.push(`${id}${m.hold.reason ? ` (${m.hold.reason})` : ""}`);
  }
  return [
    ...[...pins.values()].map((p) => `${PINNED_MARK} ${p.backend} ${pinLine(p)}`),
    held.length > 0 ? `${HELD_MARK} held on ${held.join(", ")}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
}
