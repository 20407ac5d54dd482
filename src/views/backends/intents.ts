import {
  admitText,
  plural,
  type DialogText,
  type IntentContext,
  type IntentHandler,
} from "../../store/commands.js";
import { shortDigest } from "../../format/units.js";
import type { InstalledBackend } from "../../protocol/index.js";
import type { DashStore } from "../../store/dash-store.js";
import type { IntentOf } from "../../store/types.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    upgrade: { backend: string; nodes?: string[] };
    reinstall: { backend: string; nodes?: string[] };
    /** `generation`: a kept one chosen in the dialog (one node only); absent means the newest kept. */
    rollback: { backend: string; nodes: string[]; generation?: string };
    delete: { backend: string; nodes?: string[] };
  }
}

function nodesHaving(store: DashStore, backend: string): number {
  let n = 0;
  for (const inv of store.getState().inventory.values())
    if (inv.backends.some((b) => b.name === backend)) n++;
  return n;
}

type Rollout = IntentOf<"upgrade"> | IntentOf<"reinstall">;

/** What an upgrade would do, from the upgrades bucket: the versions now, the one available, and where. */
export function upgradePlan(
  store: DashStore,
  backend: string,
  nodes?: readonly string[],
): { from: string[]; to: string | undefined; nodes: string[] } {
  const { upgrades, upgrade_nodes: perNode } = store.getState();
  // A backend's row, or the row of the meta that resolved to it on some node.
  let row = upgrades.get(backend);
  const only = nodes ? new Set(nodes) : undefined;
  const mine: Array<{ nodeId: string; version?: string; digest?: string }> = [];
  // O(nodes with findings), once per dialog.
  for (const { nodeId, rows } of perNode.values()) {
    if (only && !only.has(nodeId)) continue;
    const r = rows.find((x) => x.upgradable && (x.backend === backend || x.concrete === backend));
    if (!r) continue;
    row ??= upgrades.get(r.backend);
    mine.push({ nodeId, version: r.version, digest: r.digest });
  }
  if (!row) return { from: [], to: undefined, nodes: [] };
  const from = [...new Set(mine.map((n) => n.version ?? shortDigest(n.digest)).filter(Boolean))];
  return {
    from,
    to: row.availableVersion ?? (shortDigest(row.availableDigest) || undefined),
    nodes: mine.map((n) => n.nodeId).sort(),
  };
}

/** `1.0.0 → 1.1.0`, `0.9.0, 1.0.0 → 1.1.0`. */
function fromTo(p: ReturnType<typeof upgradePlan>): string | undefined {
  if (!p.to || p.nodes.length === 0) return undefined;
  return `${p.from.length > 0 ? p.from.join(", ") : "?"} → ${p.to}`;
}

/** Upgrade or reinstall a backend on some nodes, or (typed to confirm) on every node that has it. */
function describe(verb: string, intent: Rollout, store: DashStore): DialogText {
  const plan = intent.kind === "upgrade" ? upgradePlan(store, intent.backend, intent.nodes) : undefined;
  const change = plan ? fromTo(plan) : undefined;
  if (intent.nodes) {
    const on = `on ${intent.nodes.length > 1 ? `${plural(intent.nodes.length, "node")}: ` : ""}${intent.nodes.join(", ")}`;
    return {
      intent,
      title: `${verb} ${intent.backend}`,
      lines: [
        change ? `${change} ${on}` : on,
        ...(plan && !change ? ["No newer version is known for it here (U checks now)."] : []),
        "The previous generation stays on disk for a rollback.",
      ],
      action: verb,
    };
  }
  const n = nodesHaving(store, intent.backend);
  return {
    intent,
    title: `${verb} ${intent.backend} everywhere`,
    lines: [
      change && plan
        ? `${change} on ${howMany(plan.nodes.length, n)}.`
        : `on every node that has it (${plural(n, "node")} known here).`,
      `Type the backend name to confirm: ${intent.backend}`,
    ],
    action: `${verb} all`,
    typeToConfirm: intent.backend,
  };
}

/** "2 of the 3 nodes that have it", "all 3 nodes that have it", "the only node that has it". */
export function howMany(planned: number, having: number): string {
  if (planned === having)
    return having === 1 ? "the only node that has it" : `all ${having} nodes that have it`;
  return `${planned} of the ${plural(having, "node")} that ${having === 1 ? "has" : "have"} it`;
}

async function run(intent: Rollout, { api, actor, attempt, track }: IntentContext): Promise<void> {
  const where = intent.nodes ? ` on ${plural(intent.nodes.length, "node")}` : " everywhere";
  await attempt(`${intent.kind} ${intent.backend}${where}`, async () => {
    const r = await api.call(`ops.${intent.kind}`, { backend: intent.backend, nodes: intent.nodes, actor });
    track(intent.kind, intent.backend, r);
    return admitText(`${intent.kind} ${intent.backend}`, r);
  });
}

/** `1.0.0 sha256:0123456789ab installed 2026-11-23 10:00`: one generation as the dialog lists it. */
function generationText(g: {
  generation: string;
  version?: string;
  digest?: string;
  installedAt?: string;
}): string {
  const digest = g.digest ? g.digest.slice(0, (g.digest.indexOf(":") + 1 || 0) + 12) : "";
  const at = g.installedAt ? `installed ${g.installedAt.slice(0, 16).replace("T", " ")}` : "";
  return [g.version ?? g.generation, digest, at].filter(Boolean).join(" ");
}

/** The kept generations of a backend on one node, newest first, as the inventory reports them. */
export function keptGenerations(
  store: DashStore,
  backend: string,
  nodeId: string,
): { live: InstalledBackend | undefined; kept: NonNullable<InstalledBackend["previous"]> } {
  const inv = store.getState().inventory.get(nodeId);
  const row = inv?.backends.find((b) => b.name === backend);
  const concrete = row?.isMeta ? inv?.backends.find((b) => b.name === row.metadata.meta_backend_for) : row;
  const kept =
    concrete?.previous ?? (concrete?.previousGenerations ?? []).map((generation) => ({ generation }));
  return { live: concrete, kept };
}

/**
 * Roll back to the newest kept generation; the dialog lists every kept one, per node. On a single
 * node with more than one kept, j/k chooses which one (the intent then names it).
 */
const rollback: IntentHandler<"rollback"> = {
  describe: (intent, store) => {
    const lines: string[] = [];
    const single =
      intent.nodes.length === 1 ? keptGenerations(store, intent.backend, intent.nodes[0]!) : null;
    const choices =
      single && single.kept.length > 1
        ? single.kept.map((g) => ({ ...intent, generation: g.generation }))
        : undefined;
    const chosen = Math.max(0, single?.kept.findIndex((g) => g.generation === intent.generation) ?? 0);
    for (const nodeId of intent.nodes) {
      const { live, kept } = keptGenerations(store, intent.backend, nodeId);
      const now = live
        ? generationText({
            generation: live.generation ?? "?",
            ...live.metadata,
            installedAt: live.metadata.installed_at,
          })
        : "?";
      lines.push(`${nodeId}: now ${now}`);
      if (kept.length === 0) lines.push("· no kept generation: nothing to roll back to");
      kept.forEach((g, i) => lines.push(`${i === (choices ? chosen : 0) ? "→" : "·"} ${generationText(g)}`));
    }
    lines.push(
      choices && chosen > 0
        ? "It goes back to the one marked → (j/k to choose); the generation rolled back from and the kept ones newer than it are removed."
        : `It goes back to the one marked →${choices ? " (j/k to choose)" : ""}; the generation rolled back from is removed.`,
    );
    return {
      intent,
      ...(choices ? { choices, chosen } : {}),
      title: `Roll back ${intent.backend} on ${intent.nodes.length === 1 ? intent.nodes[0] : plural(intent.nodes.length, "node")}`,
      lines,
      action: "Roll back",
    };
  },
  run: (intent, { api, actor, attempt, track }) =>
    attempt(`rollback ${intent.backend} on ${plural(intent.nodes.length, "node")}`, async () => {
      const { generation } = intent;
      const r = await api.call("ops.rollback", {
        backend: intent.backend,
        nodes: intent.nodes,
        actor,
        ...(generation ? { generation } : {}),
      });
      track("rollback", intent.backend, r);
      return admitText(`rollback ${intent.backend}`, r);
    }),
};

/** Delete a backend (every generation) on some nodes, or (typed to confirm) everywhere. */
const del: IntentHandler<"delete"> = {
  describe: (intent, store) => {
    if (intent.nodes)
      return {
        intent,
        title: `Delete ${intent.backend} on ${intent.nodes.join(", ")}`,
        lines: ["Every generation of it is removed from the node, kept ones included: no rollback."],
        action: "Delete",
      };
    const n = nodesHaving(store, intent.backend);
    return {
      intent,
      title: `Delete ${intent.backend} everywhere`,
      lines: [
        `from every node that has it (${plural(n, "node")} known here), every generation: no rollback.`,
        `Type the backend name to confirm: ${intent.backend}`,
      ],
      action: "Delete all",
      typeToConfirm: intent.backend,
    };
  },
  run: (intent, { api, actor, attempt, track }) =>
    attempt(
      `delete ${intent.backend}${intent.nodes ? ` on ${plural(intent.nodes.length, "node")}` : " everywhere"}`,
      async () => {
        const r = await api.call("ops.delete", { backend: intent.backend, nodes: intent.nodes, actor });
        track("delete", intent.backend, r);
        return admitText(`delete ${intent.backend}`, r);
      },
    ),
};

const upgrade: IntentHandler<"upgrade"> = { describe: (i, store) => describe("Upgrade", i, store), run };
const reinstall: IntentHandler<"reinstall"> = {
  describe: (i, store) => describe("Reinstall", i, store),
  run,
};

export const intents = { upgrade, reinstall, rollback, delete: del };
