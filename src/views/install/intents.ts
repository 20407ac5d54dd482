import { MAX_REQUEST_NODES } from "../../protocol/index.js";
import { admitText, mergeAdmits, plural, type IntentHandler } from "../../store/commands.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    install: { backend: string; nodes: string[] };
  }
}

/** Install a backend on the nodes picked, then show Operations (unless nothing was admitted). */
const install: IntentHandler<"install"> = {
  async run(intent, { store, api, actor, attempt, track }) {
    await attempt(`install ${intent.backend} on ${plural(intent.nodes.length, "node")}`, async () => {
      // A request names at most MAX_REQUEST_NODES nodes (1 MB): a bigger pick goes in parts.
      const replies = [];
      for (let i = 0; i < intent.nodes.length; i += MAX_REQUEST_NODES) {
        const nodes = intent.nodes.slice(i, i + MAX_REQUEST_NODES);
        replies.push(await api.call("ops.install", { backend: intent.backend, nodes, actor }));
      }
      for (const r of replies) track("install", intent.backend, r);
      return admitText(`install ${intent.backend}`, mergeAdmits(replies));
    });
    if (store.getState().toast?.level !== "err") store.getState().actions.navigate({ id: "ops" });
  },
};

export const intents = { install };
