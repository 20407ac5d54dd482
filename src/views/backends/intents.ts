import {
  admitText,
  plural,
  type DialogText,
  type IntentContext,
  type IntentHandler,
} from "../../store/commands.js";
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

/** Upgrade or reinstall a backend on some nodes, or (typed to confirm) on every node that has it. */
function describe(verb: string, intent: Rollout, store: DashStore): DialogText {
  if (intent.nodes) {
    return {
      intent,
      title: `${verb} ${intent.backend}`,
      lines: [`on ${intent.nodes.join(", ")}`, "The previous generation stays on disk for a rollback."],
      action: verb,
    };
  }
  const n = nodesHaving(store, intent.backend);
  return {
    intent,
    title: `${verb} ${intent.backend} everywhere`,
    lines: [
      `on every node that has it (${plural(n, "node")} known here).`,
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
