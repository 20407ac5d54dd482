import type { ApiCaller } from "../store/cluster-feed.js";
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { ApiCallError } from "../client/api-client.js";
import { errorMessage } from "../lib/log.js";
import {
  API_WRITES,
  DEFAULT_API_TIMEOUT_MS,
  findableOps,
  MAX_RESOLVE_CAPABILITIES,
  type ApiResult,
  type CapabilityResolution,
  type NodeResolution,
} from "../protocol/index.js";

import { duration } from "../format/units.js";
import type { DashStore } from "./dash-store.js";
import { watchOutcome } from "./fanout-outcome.js";
import type { Dialog, Intent, IntentKind, IntentOf } from "./types.js";

type AdmitReply = ApiResult<"ops.upgrade">;

export interface CommandRunner {
  /** What a command key calls: refused in read-only mode, confirmed first when it is destructive. */
  request(intent: Intent): void;
  /** Run the intent of the open dialog (its action button). */
  confirmDialog(): void;
  /** Move the open dialog's choice by `step` (when it offers choices), described afresh. */
  chooseInDialog(step: number): void;
  run(intent: Intent): Promise<void>;
  loadHistory(): Promise<void>;
  /** One op's audit events, oldest first (ops.history of its node, kept when they name the op). */
  loadOpEvents(op: { id: string; nodeId: string; backend: string }): Promise<void>;
  loadGallery(): Promise<void>;
  resolve(backend: string): Promise<void>;
  /** The settings in effect when the bucket has no record yet (the controller's defaults). */
  loadSettings(): Promise<void>;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export interface Outcome {
  level: "ok" | "warn" | "err";
  text: string;
}

/** A confirm dialog as an intent describes it. */
export type DialogText = Omit<Dialog, "typed" | "focus">;

/** What an intent's `run` gets: the controller's API, the store, and the toasts every command uses. */
export interface IntentContext {
  store: DashStore;
  api: ApiCaller;
  /** Who asked (the controller records it). */
  actor: string;
  /** Toast "what…", then the outcome `fn` returns, or why it failed. */
  attempt(what: string, fn: () => Promise<Outcome>): Promise<void>;
  /** Tell how an admission's ops end, once they all have ("install x: 3 succeeded, 1 failed"). */
  track(verb: string, backend: string, reply: AdmitReply): void;
  /** Call `call` for every op id at once, then toast how many failed. */
  each(what: string, ids: string[], call: (opId: string) => Promise<unknown>): Promise<void>;
}

/** What an intent's `prepare` gets: the store to put what it loads in, and the controller's API. */
export interface PrepareContext {
  store: DashStore;
  api: ApiCaller;
}

/** How one kind of intent is confirmed and carried out (in src/views/<view>/intents.ts). */
export interface IntentHandler<K extends IntentKind> {
  /** The confirm dialog, or null when this one runs at once; absent when the kind never asks. */
  describe?(intent: IntentOf<K>, store: DashStore): DialogText | null;
  /**
   * Load what `describe` reads (a rollout's plan) into the store. The runner calls it before the
   * dialog opens (its synchronous part, such as marking the data loading, comes first) and
   * describes the dialog again when it settles, if that dialog is still open.
   */
  prepare?(intent: IntentOf<K>, ctx: PrepareContext): Promise<void>;
  run(intent: IntentOf<K>, ctx: IntentContext): Promise<void>;
}

/** A handler for every kind of intent: src/views/registry.ts joins the views' handlers. */
export type IntentTable = { [K in IntentKind]: IntentHandler<K> };

/** Several admissions' replies as one (a pick too big for one request is sent in parts). */
export function mergeAdmits(rs: readonly AdmitReply[]): AdmitReply {
  const sum = (k: keyof AdmitReply["counts"]) => rs.reduce((n, r) => n + r.counts[k], 0);
  return {
    admitted: rs.flatMap((r) => r.admitted),
    refused: rs.flatMap((r) => r.refused),
    counts: { admitted: sum("admitted"), existing: sum("existing"), refused: sum("refused") },
    truncated: rs.some((r) => r.truncated),
  };
}

/** How an ops.upgrade / ops.reinstall / ops.install reply reads in a toast. */
export function admitText(what: string, r: AdmitReply): Outcome {
  const { admitted, existing, refused } = r.counts;
  const parts = [`${admitted} admitted${existing ? ` (${existing} already running)` : ""}`];
  const first = r.refused[0];
  if (refused > 0) parts.push(`${refused} refused${first ? ` — ${first.nodeId}: ${first.error}` : ""}`);
  const level = admitted === 0 ? "err" : refused > 0 ? "warn" : "ok";
  return { level, text: `${what}: ${parts.join(", ")}` };
}

/** Whether a failed call was still answered by a controller (a refusal, not silence). */
function answered(e: unknown): boolean {
  return (
    e instanceof ApiCallError &&
    e.code !== "timeout" &&
    e.code !== "no_responders" &&
    e.code !== "unavailable"
  );
}

const timedOut = (e: unknown): e is ApiCallError => e instanceof ApiCallError && e.code === "timeout";

/** What asking again may still change: no controller answered (yet), or it was busy. */
const unanswered = (e: unknown): boolean =>
  e instanceof ApiCallError &&
  (e.code === "timeout" || e.code === "no_responders" || e.code === "unavailable");

/** `10 s`, `0.3 s`. */
function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/**
 * The command being carried out (one `attempt`): its idempotency key, and how many write calls it
 * has made, so running it again sends every call with the key it had the first time.
 */
interface AttemptScope {
  key: string;
  calls: number;
}

export interface RunnerOptions {
  /** After a timeout, ask again (same keys) this often until an answer comes (default 5 s)… */
  followUpEveryMs?: number;
  /** …for at most this long (default 5 minutes). */
  followUpForMs?: number;
}

export function createCommandRunner(
  store: DashStore,
  transport: ApiCaller,
  actor: string,
  intents: IntentTable,
  opts: RunnerOptions = {},
): CommandRunner {
  const ui = () => store.getState().actions;
  const scope = new AsyncLocalStorage<AttemptScope>();
  const followUpEveryMs = opts.followUpEveryMs ?? 5_000;
  const followUpForMs = opts.followUpForMs ?? 5 * 60_000;
  // Every write carries an idempotency key, so asking again after a timeout never applies it
  // twice; every reply, refusals included, tells the header a controller is alive.
  const api: ApiCaller = {
    async call(method, req, timeoutMs, callOpts) {
      const s = scope.getStore();
      const key =
        callOpts?.idempotencyKey ?? (s && API_WRITES.has(method) ? `${s.key}-${s.calls++}` : undefined);
      try {
        const r = await transport.call(
          method,
          req,
          timeoutMs,
          key ? { ...callOpts, idempotencyKey: key } : callOpts,
        );
        ui().controllerAnswered();
        return r;
      } catch (e) {
        if (answered(e)) ui().controllerAnswered();
        throw e;
      }
    },
  };
  // Every handler is its kind's; the table's type says so, the union of kinds cannot.
  const handlerOf = (intent: Intent) => intents[intent.kind] as IntentHandler<IntentKind>;

  async function attempt(what: string, fn: () => Promise<Outcome>) {
    ui().toast("info", `${what}…`);
    const s: AttemptScope = { key: `d${randomBytes(8).toString("hex")}`, calls: 0 };
    const started = Date.now();
    const once = () => {
      s.calls = 0;
      return scope.run(s, fn);
    };
    try {
      const r = await once();
      ui().toast(r.level, r.text);
    } catch (e) {
      if (!timedOut(e)) {
        ui().toast("err", `${what} failed: ${errorMessage(e)}`);
        return;
      }
      const waited = seconds(e.timeoutMs ?? DEFAULT_API_TIMEOUT_MS);
      ui().toast(
        "warn",
        // The words that matter first: at 80 columns the command's name is what gets cut.
        `not confirmed: no controller answered within ${waited}; it may still be applied (${what})`,
      );
      // In the background: the command key's work is done; the outcome comes as a later toast.
      void followUp(what, once, started);
    }
  }

  /** Ask again with the same keys until a controller answers, then show how it ended. */
  async function followUp(what: string, once: () => Promise<Outcome>, since: number) {
    while (Date.now() - since < followUpForMs) {
      await new Promise((r) => setTimeout(r, followUpEveryMs).unref());
      try {
        const r = await once();
        ui().toast(r.level, `${r.text} (confirmed after ${duration((Date.now() - since) / 1000)})`);
        return;
      } catch (e) {
        if (unanswered(e)) continue;
        ui().toast(
          "err",
          `${what} failed (answered after ${duration((Date.now() - since) / 1000)}): ${errorMessage(e)}`,
        );
        return;
      }
    }
    ui().toast(
      "warn",
      `${what}: still not confirmed after ${duration(followUpForMs / 1000)}; see Operations and History`,
    );
  }

  async function each(what: string, ids: string[], call: (opId: string) => Promise<unknown>) {
    await attempt(what, async () => {
      const results = await Promise.allSettled(ids.map(call));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      // Not confirmed is not failed: the whole command is asked again (same keys) until it is.
      const silent = failed.find((r) => timedOut(r.reason));
      if (silent) throw silent.reason;
      if (failed.length === 0)
        return { level: "ok", text: `${what}: done for ${plural(ids.length, "operation")}` };
      const why = errorMessage(failed[0]!.reason);
      return {
        level: failed.length === ids.length ? "err" : "warn",
        text: `${what}: ${failed.length} of ${ids.length} failed — ${why}`,
      };
    });
  }

  const track = (verb: string, backend: string, r: AdmitReply) => {
    // An existing op past the listed rows cannot be found (no batch prefix): it is left out.
    const rest =
      r.truncated && r.batch !== undefined
        ? { prefix: `${r.batch}-`, total: findableOps(r).total }
        : undefined;
    watchOutcome(
      store,
      verb,
      backend,
      r.admitted.map((a) => a.opId),
      rest,
    );
  };

  const runner: CommandRunner = {
    request(intent) {
      if (store.getState().readOnly) {
        ui().toast("warn", "read-only mode: commands are disabled");
        return;
      }
      const h = handlerOf(intent);
      const loading = h.prepare?.(intent, { store, api });
      const d = h.describe?.(intent, store) ?? null;
      if (!d) {
        void runner.run(intent);
        return;
      }
      ui().openDialog(d);
      void loading
        ?.catch(() => {})
        .then(() => {
          const open = store.getState().dialog;
          if (open?.intent !== intent) return;
          const next = h.describe?.(intent, store);
          if (!next) return;
          ui().openDialog(next);
          ui().updateDialog({ focus: open.focus, typed: open.typed });
        });
    },

    confirmDialog() {
      const d = store.getState().dialog;
      if (!d) return;
      if (d.blocked !== undefined) {
        ui().toast("warn", d.blocked);
        return;
      }
      if (d.typeToConfirm !== undefined && d.typed !== d.typeToConfirm) {
        ui().toast("warn", `type "${d.typeToConfirm}" to confirm`);
        return;
      }
      ui().closeDialog();
      void runner.run(d.intent);
    },

    chooseInDialog(step) {
      const d = store.getState().dialog;
      if (!d?.choices || d.choices.length === 0) return;
      const i = Math.min(d.choices.length - 1, Math.max(0, (d.chosen ?? 0) + step));
      if (i === d.chosen) return;
      const next = handlerOf(d.choices[i]!).describe?.(d.choices[i]!, store) ?? null;
      if (!next) return;
      ui().openDialog(next);
      ui().updateDialog({ focus: d.focus });
    },

    async run(intent) {
      if (store.getState().readOnly) return;
      await handlerOf(intent).run(intent, { store, api, actor, attempt, each, track });
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

    async loadOpEvents(op) {
      const prev = store.getState().opEvents[op.id] ?? { status: "idle", data: [] };
      ui().setOpEvents(op.id, { ...prev, status: "loading" });
      try {
        const r = await api.call("ops.history", { limit: 1000, nodeId: op.nodeId, backend: op.backend });
        const events = r.events
          .filter((e) => e.opId === op.id || e.op?.id === op.id)
          .sort((a, b) => a.at - b.at);
        ui().setOpEvents(op.id, { status: "ok", data: events, at: Date.now() });
      } catch (e) {
        ui().setOpEvents(op.id, { status: "error", data: prev.data, error: errorMessage(e) });
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
        // By capability, not by node id (what a node gets depends on its capability alone): a
        // request and a reply of a few rows, however big the fleet.
        const nodes = [...store.getState().nodes.values()];
        const caps = [...new Set(nodes.map((n) => n.last.capability))];
        const byCap = new Map<string, CapabilityResolution>();
        for (let i = 0; i < caps.length || i === 0; i += MAX_RESOLVE_CAPABILITIES) {
          const r = await api.call("gallery.resolve", {
            backend,
            nodes: [],
            ...(caps.length > 0 ? { capabilities: caps.slice(i, i + MAX_RESOLVE_CAPABILITIES) } : {}),
          });
          for (const c of r.capabilities ?? []) byCap.set(c.capability, c);
        }
        const data = nodes.map((n): NodeResolution => {
          const capability = n.last.capability;
          const c = byCap.get(capability);
          return c?.concrete && !c.error
            ? { nodeId: n.id, capability, concrete: c.concrete }
            : { nodeId: n.id, capability, error: c?.error ?? `no resolution for capability ${capability}` };
        });
        ui().setResolution(backend, { status: "ok", data, at: Date.now() });
      } catch (e) {
        ui().setResolution(backend, { status: "error", data: [], error: errorMessage(e) });
      }
    },
  };
  return runner;
}
