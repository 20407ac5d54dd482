import type { CommandId } from "../../keymap/registry.js";
import { plural, type IntentHandler } from "../../store/commands.js";
import type { KeyContext } from "../types.js";

declare module "../../store/types.js" {
  interface IntentTypes {
    checkUpgrades: Record<never, never>;
    settings: { autoUpgrade?: boolean; upgradeCheckIntervalSec?: number };
  }
}

const checkUpgrades: IntentHandler<"checkUpgrades"> = {
  run: (_intent, { api, actor, attempt }) =>
    attempt("upgrade check", async () => {
      const r = await api.call("upgrades.check", { actor }, 60_000);
      const n = r.upgrades.filter((u) => u.upgradable > 0).length;
      return {
        level: "ok",
        text: `upgrade check: ${plural(n, "backend")} upgradable (${plural(r.headRequests, "registry request")})`,
      };
    }),
};

/** Turning auto-upgrade on or off asks first; a new check interval is sent at once. */
const settings: IntentHandler<"settings"> = {
  describe(intent) {
    if (intent.autoUpgrade === undefined) return null;
    return {
      intent,
      title: `Turn auto-upgrade ${intent.autoUpgrade ? "ON" : "OFF"}`,
      lines: intent.autoUpgrade
        ? [
            "The leader will start a rollout of every upgradable",
            "backend, with the default strategy, inside the window.",
          ]
        : ["Upgrades will only run when someone asks for them."],
      action: intent.autoUpgrade ? "Turn on" : "Turn off",
    };
  },
  run: (intent, { api, actor, attempt }) =>
    attempt("settings", async () => {
      const { kind: _kind, ...change } = intent;
      const r = await api.call("settings.set", { ...change, actor });
      return {
        level: "ok",
        text: `auto-upgrade ${r.settings.autoUpgrade ? "on" : "off"}, check every ${r.settings.upgradeCheckIntervalSec}s`,
      };
    }),
};

export const intents = { checkUpgrades, settings };

/** Its commands act from every view. */
export const globalKeys: Partial<Record<CommandId, (ctx: KeyContext) => void>> = {
  "upgrades.check": ({ runner }) => runner.request({ kind: "checkUpgrades" }),
  "settings.autoUpgrade": ({ store, runner }) => {
    const s = store.getState();
    if (s.settings) runner.request({ kind: "settings", autoUpgrade: !s.settings.autoUpgrade });
    else s.actions.toast("warn", "settings are not loaded yet");
  },
};
