import {
  admitText,
  plural,
  type DialogText,
  type IntentContext,
  type IntentHandler,
} from "../../store/commands.js";
import { shortDigest } from "../../format/units.js";
import type { DashStore } from "../../store/dash-store.js";
import type { IntentOf } from "../../store/types.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    upgrade: { backend: string; nodes?: string[] };
    reinstall: { backend: string; nodes?: string[] };
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
  const all = [...store.getState().upgrades.values()];
  const u =
    store.getState().upgrades.get(backend) ?? all.find((x) => x.nodes.some((n) => n.concrete === backend));
  if (!u) return { from: [], to: undefined, nodes: [] };
  const mine = u.nodes.filter((n) => n.upgradable && (!nodes || nodes.includes(n.nodeId)));
  const from = [...new Set(mine.map((n) => n.version ?? shortDigest(n.digest)).filter(Boolean))];
  return {
    from,
    to: u.availableVersion ?? (shortDigest(u.availableDigest) || undefined),
    nodes: mine.map((n) => n.nodeId),
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
        ? `${change} on ${plan.nodes.length} of the ${plural(n, "node")} that have it.`
        : `on every node that has it (${plural(n, "node")} known here).`,
      `Type the backend name to confirm: ${intent.backend}`,
    ],
    action: `${verb} all`,
    typeToConfirm: intent.backend,
  };
}

async function run(intent: Rollout, { api, actor, attempt, track }: IntentContext): Promise<void> {
  const where = intent.nodes ? ` on ${plural(intent.nodes.length, "node")}` : " everywhere";
  await attempt(`${intent.kind} ${intent.backend}${where}`, async () => {
    const r = await api.call(`ops.${intent.kind}`, { backend: intent.backend, nodes: intent.nodes, actor });
    track(
      intent.kind,
      intent.backend,
      r.admitted.map((a) => a.opId),
    );
    return admitText(`${intent.kind} ${intent.backend}`, r);
  });
}

const upgrade: IntentHandler<"upgrade"> = { describe: (i, store) => describe("Upgrade", i, store), run };
const reinstall: IntentHandler<"reinstall"> = {
  describe: (i, store) => describe("Reinstall", i, store),
  run,
};

export const intents = { upgrade, reinstall };
