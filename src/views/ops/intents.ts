import { plural, type IntentHandler } from "../../store/commands.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    cancel: { opIds: string[]; label: string };
    dismiss: { opIds: string[]; label: string };
    retry: { opIds: string[]; label: string };
  }
}

const cancel: IntentHandler<"cancel"> = {
  describe: (intent) => ({
    intent,
    title: `Cancel ${plural(intent.opIds.length, "operation")}`,
    lines: [intent.label, "A download in flight is aborted and the previous version stays live."],
    action: `Cancel ${plural(intent.opIds.length, "op")}`,
  }),
  run: (intent, { api, actor, each }) =>
    each("cancel", intent.opIds, (opId) => api.call("ops.cancel", { opId, actor })),
};

const dismiss: IntentHandler<"dismiss"> = {
  run: (intent, { api, actor, each }) =>
    each("dismiss", intent.opIds, (opId) => api.call("ops.dismiss", { opId, actor })),
};

const retry: IntentHandler<"retry"> = {
  describe: (intent) => ({
    intent,
    title: `Retry ${plural(intent.opIds.length, "operation")}`,
    lines: [intent.label],
    action: `Retry ${plural(intent.opIds.length, "op")}`,
  }),
  run: (intent, { api, actor, each }) =>
    each("retry", intent.opIds, (opId) => api.call("ops.retry", { opId, actor })),
};

export const intents = { cancel, dismiss, retry };
