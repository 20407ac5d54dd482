import {
  firstRows,
  MAX_CAPABILITY_COUNTS,
  type CapabilityCount,
  type NodeResolution,
} from "../protocol/index.js";

/**
 * A `gallery.resolve` reply's nodes, bounded whatever the fleet: the first rows, how many there
 * are, and every node counted by capability (what a node resolves to depends on nothing else,
 * so a node not listed is found there by its capability).
 */
export function boundedResolutions(all: readonly NodeResolution[]): {
  nodes: NodeResolution[];
  total: number;
  byCapability: CapabilityCount[];
  truncated: boolean;
} {
  const by = new Map<string, CapabilityCount>();
  for (const r of all) {
    // Nodes the controller does not know have no capability: one group, whatever their error.
    const key = r.capability ?? "";
    const c = by.get(key);
    if (c) c.nodes++;
    else
      by.set(key, {
        ...(r.capability !== undefined ? { capability: r.capability } : {}),
        nodes: 1,
        ...(r.concrete !== undefined ? { concrete: r.concrete } : {}),
        ...(r.capability !== undefined && r.error !== undefined ? { error: r.error } : {}),
      });
  }
  const first = firstRows(all);
  return {
    nodes: first.rows,
    total: all.length,
    byCapability: [...by.values()].sort((a, b) => b.nodes - a.nodes).slice(0, MAX_CAPABILITY_COUNTS),
    truncated: first.cut,
  };
}
