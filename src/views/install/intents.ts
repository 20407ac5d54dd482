import { admitText, plural, type IntentHandler } from "../../store/commands.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    install: { backend: string; nodes: string[] };
  }
}

/** Install a backend on the nodes picked, then show Operations (unless nothing was admitted). */
const install: IntentHandler<"install"> = {
  async run(intent, { store, api, actor, attempt, track }) {
    await attempt(`install ${intent.backend} on ${plural(intent.nodes.length, "node")}`, async () => {
      const r = await api.call("ops.install", { backend: intent.backend, nodes: intent.nodes, actor });
      track("install", intent.backend, r);
      return admitText(`install ${intent.backend}`, r);
    });
    if (store.getState().toast?.level !== "err") store.getState().actions.navigate({ id: "ops" });
  },
};

export const intents = { install };
