import type { IntentContext, IntentHandler } from "../../store/commands.js";
import type { IntentOf } from "../../store/types.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    drain: { nodeId: string };
    resume: { nodeId: string };
  }
}

/** Drain or resume a node: the reply says the status it now has. */
function run(intent: IntentOf<"drain"> | IntentOf<"resume">, { api, actor, attempt }: IntentContext) {
  return attempt(`${intent.kind} ${intent.nodeId}`, async () => {
    const r = await api.call(`nodes.${intent.kind}`, { nodeId: intent.nodeId, actor });
    return { level: "ok", text: `${r.node.id} is ${r.node.status}` };
  });
}

const drain: IntentHandler<"drain"> = {
  describe: (intent) => ({
    intent,
    title: `Drain ${intent.nodeId}`,
    lines: ["No new work is sent to it until it is resumed;", "queued work for it is reaped."],
    action: "Drain",
  }),
  run,
};

const resume: IntentHandler<"resume"> = {
  describe: (intent) => ({
    intent,
    title: `Resume ${intent.nodeId}`,
    lines: ["The node takes work again."],
    action: "Resume",
  }),
  run,
};

export const intents = { drain, resume };
