/** Every screen of the dashboard; `:name` jumps to the ones marked `jump`. */
export const VIEW_IDS = [
  "nodes",
  "backends",
  "backend",
  "ops",
  "node",
  "install",
  "history",
  "settings",
  "help",
] as const;
export type ViewId = (typeof VIEW_IDS)[number];

export interface ViewInfo {
  title: string;
  /** Names accepted by `:` (the first is the canonical one); empty when it needs a parameter. */
  names: string[];
}

export const VIEW_INFO: Record<ViewId, ViewInfo> = {
  nodes: { title: "Nodes", names: ["nodes", "node", "no"] },
  backends: { title: "Backends", names: ["backends", "be", "b"] },
  backend: { title: "Backend", names: [] },
  ops: { title: "Operations", names: ["ops", "operations", "op", "o"] },
  node: { title: "Node", names: [] },
  install: { title: "Install", names: ["install", "i"] },
  history: { title: "History", names: ["history", "hist", "h"] },
  settings: { title: "Settings", names: ["settings", "set"] },
  help: { title: "Help", names: ["help", "keys"] },
};

/** Resolve what was typed after `:` to a view, by exact name or unique prefix. */
export function viewByName(name: string): ViewId | null {
  const n = name.trim().toLowerCase();
  if (!n) return null;
  for (const id of VIEW_IDS) if (VIEW_INFO[id].names.includes(n)) return id;
  const hits = VIEW_IDS.filter((id) => VIEW_INFO[id].names.some((x) => x.startsWith(n)));
  return hits.length === 1 ? hits[0]! : null;
}

export function jumpableViews(): ViewId[] {
  return VIEW_IDS.filter((id) => VIEW_INFO[id].names.length > 0);
}
