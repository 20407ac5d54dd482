import type { GalleryEntrySummary, Inventory, NodeRecord, NodeResolution } from "../protocol/index.js";
import { MARKED, UNMARKED } from "../theme/symbols.js";
import { byName } from "./nodes.js";
import { nodeStatusText } from "./status.js";
import type { Column, Row } from "./table.js";

export const GALLERY_COLUMNS: Column[] = [
  { id: "backend", title: "BACKEND", width: 18, flex: 2 },
  { id: "kind", title: "KIND", width: 8 },
  { id: "version", title: "VERSION", width: 9 },
  { id: "description", title: "DESCRIPTION", width: 12, flex: 3 },
  { id: "gallery", title: "GALLERY", width: 10, wide: true },
];

export function galleryRows(entries: readonly GalleryEntrySummary[]): Row[] {
  return entries.map((e) => ({
    key: e.name,
    cells: {
      backend: { text: e.alias ? `${e.name} (${e.alias})` : e.name, tone: e.development ? "dev" : undefined },
      kind: { text: [e.kind, e.development ? "dev" : ""].filter(Boolean).join(" ") },
      version: { text: e.version ?? "" },
      description: { text: (e.description ?? "").replace(/\s+/g, " ").trim() },
      gallery: { text: e.gallery },
    },
  }));
}

export const PICK_COLUMNS: Column[] = [
  { id: "pick", title: "", width: 3, unsortable: true },
  { id: "node", title: "NODE", width: 12, flex: 1 },
  { id: "status", title: "STATUS", width: 11 },
  { id: "capability", title: "CAPABILITY", width: 14 },
  { id: "resolves", title: "RESOLVES TO", width: 16, flex: 2 },
];

/** True when the backend resolves to a concrete build on this node (only those can be picked). */
export function resolvable(r: NodeResolution | undefined): boolean {
  return !!r && !r.error && !!r.concrete;
}

/** A node the picker lets you choose: it resolves, and it is not draining (no new work goes there). */
export function pickable(n: NodeRecord | undefined, r: NodeResolution | undefined): boolean {
  return resolvable(r) && n?.status !== "draining";
}

/** What a node already has of the backend: the version (or `installed`) under the name or its concrete. */
export function installedOn(
  inv: Inventory | undefined,
  backend: string,
  concrete: string | undefined,
): string | undefined {
  const b = inv?.backends.find((x) => x.name === concrete) ?? inv?.backends.find((x) => x.name === backend);
  return b ? (b.metadata.version ?? "installed") : undefined;
}

export function pickRows(
  nodes: ReadonlyMap<string, NodeRecord>,
  resolutions: readonly NodeResolution[] | undefined,
  picked: readonly string[],
  has?: { backend: string; inventory: ReadonlyMap<string, Inventory> },
): Row[] {
  const byNode = new Map((resolutions ?? []).map((r) => [r.nodeId, r]));
  return [...nodes.values()]
    .sort((a, b) => byName(a.id, b.id))
    .map((n) => {
      const r = byNode.get(n.id);
      const ok = pickable(n, r);
      const already = has ? installedOn(has.inventory.get(n.id), has.backend, r?.concrete) : undefined;
      const resolves = !resolutions
        ? { text: "resolving…", tone: "muted" as const }
        : !r
          ? { text: "✗ not resolved", tone: "err" as const }
          : resolvable(r)
            ? {
                text: `${r.concrete ?? ""}${already ? ` (has ${already})` : ""}${n.status === "draining" ? " · draining" : ""}`,
              }
            : { text: `✗ ${r.error ?? "no build for this capability"}`, tone: "err" as const };
      return {
        key: n.id,
        dim: !ok,
        cells: {
          pick: { text: picked.includes(n.id) ? MARKED : ok ? UNMARKED : " - " },
          node: { text: n.id },
          status: nodeStatusText(n.status),
          capability: { text: r?.capability ?? n.last.capability },
          resolves,
        },
      };
    });
}
