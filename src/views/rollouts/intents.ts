import { errorMessage } from "../../lib/log.js";
import { rolloutEnded } from "../../protocol/index.js";
import { plural, type IntentContext, type IntentHandler } from "../../store/commands.js";
import { fitNames, planChange, planDialogLines, plannedCount } from "../../format/rollout-plan.js";
import { revertGroups, type RevertPlan } from "../../format/rollouts.js";
import type { DashStore } from "../../store/dash-store.js";
import type { IntentOf } from "../../store/types.js";

interface RolloutRef {
  id: string;
  /** How the rollout reads in a toast: `llama-cpp 1.0 → 1.1`. */
  label: string;
}

declare module "../../store/types.js" {
  interface IntentTypes {
    /** `u` on a backend everywhere: a rollout in waves over every node that has it (the plan shown first). */
    rolloutStart: { backend: string };
    rolloutPause: RolloutRef;
    rolloutResume: RolloutRef;
    rolloutPromote: RolloutRef & { wave: number; waves: number };
    /** What an abort now does: the nodes it moved are reverted, the ones upgrading cancelled. */
    rolloutAbort: RolloutRef & { revert: RevertPlan[]; cancel: string[]; waiting: number };
    rolloutDismiss: RolloutRef;
  }
}

type Kind = "rolloutPause" | "rolloutResume" | "rolloutPromote" | "rolloutAbort" | "rolloutDismiss";
const METHOD = {
  rolloutPause: ["rollouts.pause", "pause"],
  rolloutResume: ["rollouts.resume", "resume"],
  rolloutPromote: ["rollouts.promote", "promote"],
  rolloutAbort: ["rollouts.abort", "abort"],
  rolloutDismiss: ["rollouts.dismiss", "dismiss"],
} as const satisfies Record<Kind, readonly [string, string]>;

/** Call the rollout's method; the reply's state (and reason) is the toast. */
function run(intent: IntentOf<Kind>, { api, actor, attempt }: IntentContext) {
  const [method, verb] = METHOD[intent.kind];
  return attempt(`${verb} rollout ${intent.label}`, async () => {
    const r = await api.call(method, { id: intent.id, actor });
    const why = r.rollout.reason ? `: ${r.rollout.reason}` : "";
    return {
      level: "ok",
      text: `rollout ${intent.label} is ${r.rollout.state}${r.rollout.dismissed ? " (dismissed)" : ""}${why}`,
    };
  });
}

const rolloutPause: IntentHandler<"rolloutPause"> = { run };
const rolloutResume: IntentHandler<"rolloutResume"> = { run };
const rolloutDismiss: IntentHandler<"rolloutDismiss"> = { run };

const rolloutPromote: IntentHandler<"rolloutPromote"> = {
  describe: (intent) => ({
    intent,
    title: `Promote rollout ${intent.label}`,
    lines: [
      intent.wave + 1 < intent.waves
        ? `Wave ${intent.wave + 1} of ${intent.waves} skips the rest of its soak; wave ${intent.wave + 2} starts now.`
        : `Wave ${intent.wave + 1} of ${intent.waves} (the last) skips the rest of its soak.`,
      "Failures so far are accepted: the budget counts the ones after.",
    ],
    action: "Promote",
  }),
  run,
};

/** The revert groups the abort dialog lists before "+N more". */
const REVERT_LINES = 4;

const rolloutAbort: IntentHandler<"rolloutAbort"> = {
  describe: (intent) => {
    const groups = revertGroups(intent.revert);
    const shown = groups.length > REVERT_LINES ? REVERT_LINES - 1 : groups.length;
    const rest = groups.slice(shown).reduce((n, g) => n + g.nodes.length, 0);
    const n = intent.cancel.length;
    return {
      intent,
      title: `Abort rollout ${intent.label}`,
      lines: [
        intent.revert.length > 0
          ? `Reverted to the generation they had before, no download (${plural(intent.revert.length, "node")}):`
          : "No node has been upgraded by it yet: nothing to revert.",
        ...groups
          .slice(0, shown)
          .map(
            (g) =>
              `  ${g.change.padEnd(17)} ${plural(g.nodes.length, "node").padEnd(9)} ${fitNames(g.nodes)}`,
          ),
        ...(shown < groups.length ? [`  +${rest} more on other versions`] : []),
        n > 0
          ? `${n} in-flight ${n === 1 ? "op is" : "ops are"} cancelled (the old version stays): ${fitNames(intent.cancel, 30)}`
          : "No op is in flight: nothing to cancel.",
        intent.waiting > 0
          ? `${plural(intent.waiting, "waiting node")} ${intent.waiting === 1 ? "is" : "are"} not touched.`
          : "",
      ].filter((l) => l !== ""),
      action: "Abort",
    };
  },
  run,
};

function nodesHaving(store: DashStore, backend: string): number {
  let n = 0;
  for (const inv of store.getState().inventory.values())
    if (inv.backends.some((b) => b.name === backend)) n++;
  return n;
}

/**
 * Start a rollout of a backend over every node that has it: the dialog shows the controller's
 * plan (rollouts.plan, a dry run) and the action stays disabled until it has come and has nodes.
 */
const rolloutStart: IntentHandler<"rolloutStart"> = {
  async prepare(intent, { store, api }) {
    const set = store.getState().actions.setPlan;
    set(intent.backend, { status: "loading", data: null });
    try {
      const r = await api.call("rollouts.plan", { backend: intent.backend });
      set(intent.backend, { status: "ok", data: r.plan, at: Date.now() });
    } catch (e) {
      set(intent.backend, { status: "error", data: null, error: errorMessage(e) });
    }
  },
  describe: (intent, store) => {
    const p = store.getState().plans[intent.backend];
    const base = { intent, action: "Start rollout" };
    if (!p || p.status === "loading" || p.status === "idle")
      return {
        ...base,
        title: `Roll out ${intent.backend}`,
        lines: ["Asking the controller for the plan: which nodes go in which wave…"],
        blocked: "waiting for the plan",
      };
    if (!p.data)
      return {
        ...base,
        title: `Roll out ${intent.backend}`,
        lines: [`No plan: ${p.error ?? "the controller did not give one"}`],
        blocked: "no plan, nothing to start",
      };
    const lines = planDialogLines(p.data, nodesHaving(store, intent.backend));
    const planned = plannedCount(p.data);
    // One rollout per backend at a time: the controller refuses a second, so say it here first.
    const active = [...store.getState().rollouts.values()].find(
      (r) => r.backend === intent.backend && !rolloutEnded(r.state),
    );
    const busy = active ? `a rollout of ${intent.backend} is already ${active.state}` : undefined;
    return {
      ...base,
      title: `Roll out ${intent.backend} ${planChange(p.data)}`,
      lines: busy ? [`${busy}: ${active!.id}`, ...lines] : lines,
      ...(busy ? { blocked: busy } : planned === 0 ? { blocked: "nothing to upgrade" } : {}),
    };
  },
  run: (intent, { api, actor, attempt, store }) =>
    attempt(`start rollout ${intent.backend}`, async () => {
      const { rollout: r } = await api.call("rollouts.start", { backend: intent.backend, actor });
      // Where it can be watched, paused and aborted; esc goes back to where `u` was pressed.
      store.getState().actions.navigate({ id: "rollout", param: r.id });
      return {
        level: "ok",
        text: `rollout ${intent.backend} started: ${plural(r.eligible, "node")} in ${plural(r.waves.length, "wave")} (${r.id})`,
      };
    }),
};

export const intents = {
  rolloutStart,
  rolloutPause,
  rolloutResume,
  rolloutPromote,
  rolloutAbort,
  rolloutDismiss,
};
