import type { ApiCaller } from "../store/cluster-feed.js";
import { errorMessage } from "../lib/log.js";
import type { ApiResult } from "../protocol/index.js";
import type { DashStore } from "./dash-store.js";
import type { Dialog, Intent } from "./types.js";

type AdmitReply = ApiResult<"ops.upgrade">;

export interface CommandRunner {
  /** What a command key calls: refused in read-only mode, confirmed first when it is destructive. */
  request(intent: Intent): void;
  /** Run the intent of the open dialog (its action button). */
  confirmDialog(): void;
  run(intent: Intent): Promise<void>;
  loadHistory(): Promise<void>;
  loadGallery(): Promise<void>;
  resolve(backend: string): Promise<void>;
  /** The settings in effect when the bucket has no record yet (the controller's defaults). */
  loadSettings(): Promise<void>;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function nodesHaving(store: DashStore, backend: string): number {
  let n = 0;
  for (const inv of store.getState().inventory.values())
    if (inv.backends.some((b) => b.name === backend)) n++;
  return n;
}

/** The confirm dialog for an intent, or null when it runs at once. */
export function describeIntent(intent: Intent, store: DashStore): Omit<Dialog, "typed" | "focus"> | null {
  switch (intent.kind) {
    case "upgrade":
    case "reinstall": {
      const verb = intent.kind === "upgrade" ? "Upgrade" : "Reinstall";
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
    case "cancel":
      return {
        intent,
        title: `Cancel ${plural(intent.opIds.length, "operation")}`,
        lines: [intent.label, "A download in flight is aborted and the previous version stays live."],
        action: "Cancel op",
      };
    case "retry":
      return {
        intent,
        title: `Retry ${plural(intent.opIds.length, "operation")}`,
        lines: [intent.label],
        action: "Retry",
      };
    case "drain":
      return {
        intent,
        title: `Drain ${intent.nodeId}`,
        lines: ["No new work is sent to it until it is resumed;", "queued work for it is reaped."],
        action: "Drain",
      };
    case "resume":
      return {
        intent,
        title: `Resume ${intent.nodeId}`,
        lines: ["The node takes work again."],
        action: "Resume",
      };
    case "settings":
      if (intent.autoUpgrade === undefined) return null;
      return {
        intent,
        title: `Turn auto-upgrade ${intent.autoUpgrade ? "ON" : "OFF"}`,
        lines: intent.autoUpgrade
          ? ["The upgrade-check leader will upgrade every upgradable", "backend on every node, cluster-wide."]
          : ["Upgrades will only run when someone asks for them."],
        action: intent.autoUpgrade ? "Turn on" : "Turn off",
      };
    case "install":
    case "dismiss":
    case "checkUpgrades":
      return null;
  }
}

function admitText(what: string, r: AdmitReply): { level: "ok" | "warn" | "err"; text: string } {
  const existing = r.admitted.filter((a) => a.existing).length;
  const parts = [`${r.admitted.length} admitted${existing ? ` (${existing} already running)` : ""}`];
  if (r.refused.length > 0) {
    const first = r.refused[0]!;
    parts.push(`${r.refused.length} refused — ${first.nodeId}: ${first.error}`);
  }
  const level = r.admitted.length === 0 ? "err" : r.refused.length > 0 ? "warn" : "ok";
  return { level, text: `${what}: ${parts.join(", ")}` };
}

export function createCommandRunner(store: DashStore, api: ApiCaller, actor: string): CommandRunner {
  const ui = () => store.getState().actions;

  async function attempt(what: string, fn: () => Promise<{ level: "ok" | "warn" | "err"; text: string }>) {
    ui().toast("info", `${what}…`);
    try {
      const r = await fn();
      ui().toast(r.level, r.text);
    } catch (e) {
      ui().toast("err", `${what} failed: ${errorMessage(e)}`);
    }
  }

  async function each(what: string, ids: string[], call: (opId: string) => Promise<unknown>) {
    await attempt(what, async () => {
      const results = await Promise.allSettled(ids.map(call));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length === 0)
        return { level: "ok", text: `${what}: done for ${plural(ids.length, "operation")}` };
      const why = errorMessage(failed[0]!.reason);
      return {
        level: failed.length === ids.length ? "err" : "warn",
        text: `${what}: ${failed.length} of ${ids.length} failed — ${why}`,
      };
    });
  }

  const runner: CommandRunner = {
    request(intent) {
      if (store.getState().readOnly) {
        ui().toast("warn", "read-only mode: commands are disabled");
        return;
      }
      const d = describeIntent(intent, store);
      if (d) ui().openDialog(d);
      else void runner.run(intent);
    },

    confirmDialog() {
      const d = store.getState().dialog;
      if (!d) return;
      if (d.typeToConfirm !== undefined && d.typed !== d.typeToConfirm) {
        ui().toast("warn", `type "${d.typeToConfirm}" to confirm`);
        return;
      }
      ui().closeDialog();
      void runner.run(d.intent);
    },

    async run(intent) {
      if (store.getState().readOnly) return;
      switch (intent.kind) {
        case "upgrade":
        case "reinstall":
        case "install": {
          const method = `ops.${intent.kind}` as const;
          const where = intent.nodes ? ` on ${plural(intent.nodes.length, "node")}` : " everywhere";
          await attempt(`${intent.kind} ${intent.backend}${where}`, async () => {
            const req = { backend: intent.backend, nodes: intent.nodes, actor };
            const r =
              method === "ops.install"
                ? await api.call("ops.install", { ...req, nodes: intent.nodes ?? [] })
                : await api.call(method, req);
            return admitText(`${intent.kind} ${intent.backend}`, r);
          });
          if (intent.kind === "install" && store.getState().toast?.level !== "err")
            ui().navigate({ id: "ops" });
          return;
        }
        case "cancel":
          return each("cancel", intent.opIds, (opId) => api.call("ops.cancel", { opId, actor }));
        case "dismiss":
          return each("dismiss", intent.opIds, (opId) => api.call("ops.dismiss", { opId, actor }));
        case "retry":
          return each("retry", intent.opIds, (opId) => api.call("ops.retry", { opId, actor }));
        case "drain":
        case "resume":
          return attempt(`${intent.kind} ${intent.nodeId}`, async () => {
            const r = await api.call(`nodes.${intent.kind}`, { nodeId: intent.nodeId, actor });
            return { level: "ok", text: `${r.node.id} is ${r.node.status}` };
          });
        case "checkUpgrades":
          return attempt("upgrade check", async () => {
            const r = await api.call("upgrades.check", { actor }, 60_000);
            const n = r.upgrades.filter((u) => u.nodes.some((x) => x.upgradable)).length;
            return {
              level: "ok",
              text: `upgrade check: ${plural(n, "backend")} upgradable (${plural(r.headRequests, "registry request")})`,
            };
          });
        case "settings":
          return attempt("settings", async () => {
            const { kind: _kind, ...change } = intent;
            const r = await api.call("settings.set", { ...change, actor });
            return {
              level: "ok",
              text: `auto-upgrade ${r.settings.autoUpgrade ? "on" : "off"}, check every ${r.settings.upgradeCheckIntervalSec}s`,
            };
          });
      }
    },

    async loadHistory() {
      const prev = store.getState().history;
      ui().setHistory({ ...prev, status: "loading" });
      try {
        const r = await api.call("ops.history", { limit: 500 });
        const events = [...r.events].sort((a, b) => b.at - a.at);
        ui().setHistory({ status: "ok", data: events, at: Date.now() });
      } catch (e) {
        ui().setHistory({ status: "error", data: prev.data, error: errorMessage(e) });
      }
    },

    async loadGallery() {
      const prev = store.getState().gallery;
      ui().setGallery({ ...prev, status: "loading" });
      try {
        const r = await api.call("gallery.list", {});
        ui().setGallery({ status: "ok", data: r.entries, at: Date.now() });
      } catch (e) {
        ui().setGallery({ status: "error", data: prev.data, error: errorMessage(e) });
      }
    },

    async loadSettings() {
      try {
        const r = await api.call("settings.get", {});
        if (store.getState().settings === null) store.setState({ settings: r.settings });
      } catch {
        // No controller yet: the header keeps saying "auto-upgrade ?".
      }
    },

    async resolve(backend) {
      ui().setResolution(backend, { status: "loading", data: [] });
      try {
        const nodes = [...store.getState().nodes.keys()];
        const r = await api.call("gallery.resolve", { backend, nodes });
        ui().setResolution(backend, { status: "ok", data: r.nodes, at: Date.now() });
      } catch (e) {
        ui().setResolution(backend, { status: "error", data: [], error: errorMessage(e) });
      }
    },
  };
  return runner;
}
