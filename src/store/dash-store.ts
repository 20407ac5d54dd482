import { createStore, type StoreApi } from "zustand/vanilla";
import type { FeedEvent } from "../store/cluster-feed.js";
import { emptySlices, FEED_BUCKETS } from "./feed-buckets.js";
import type { ConnectionStatus } from "../client/connection.js";
import {
  LEASE_TTL_MS,
  type AuditEvent,
  type GalleryEntrySummary,
  type NodeResolution,
  type RolloutPlanView,
} from "../protocol/index.js";
import { applyBatch } from "./apply-batch.js";
import { watchRolloutEnds } from "./rollout-outcome.js";
import type {
  ClusterSlice,
  ContextInfo,
  Dialog,
  Loadable,
  FanOutOutcome,
  Prompt,
  TableState,
  ToastLevel,
  UiSlice,
  ViewEntry,
} from "./types.js";

export interface DashActions {
  applyBatch(events: FeedEvent[], received: number, now?: number): void;
  setConn(s: ConnectionStatus): void;
  setFeedProblem(message: string | null): void;
  /** A controller answered a request (an error envelope counts: something is serving). */
  controllerAnswered(now?: number): void;
  setLeaseTtl(ms: number): void;
  navigate(entry: ViewEntry): void;
  back(): void;
  setTable(tableKey: string, patch: Partial<TableState>): void;
  openDialog(d: Omit<Dialog, "typed" | "focus">): void;
  updateDialog(patch: Partial<Pick<Dialog, "typed" | "focus">>): void;
  closeDialog(): void;
  openPrompt(p: Prompt): void;
  setPromptText(text: string): void;
  closePrompt(): void;
  toast(level: ToastLevel, text: string): void;
  clearToast(id: number): void;
  setHistory(h: Loadable<AuditEvent[]>): void;
  /** Live audit events: on top of History (each kept once; at most HISTORY_MAX). */
  addHistoryEvents(events: readonly AuditEvent[]): void;
  /** History follows new events (stays at the top) or holds what is on screen. */
  toggleHistoryFollow(): void;
  addOutcome(o: Omit<FanOutOutcome, "id" | "at">): void;
  setOpEvents(opId: string, e: Loadable<AuditEvent[]>): void;
  setGallery(g: Loadable<GalleryEntrySummary[]>): void;
  setResolution(backend: string, r: Loadable<NodeResolution[]>): void;
  setPlan(backend: string, p: Loadable<RolloutPlanView | null>): void;
  setPicked(backend: string, nodes: readonly string[]): void;
  /** Open the install picker, with nothing selected or with nodes pre-selected from a view that says so. */
  openInstall(preselect?: { from: string; nodes: readonly string[] }): void;
  /** Operations: all ops, or only those active, failed, or ended since it was opened. */
  toggleOpsAll(): void;
}

export type DashState = ClusterSlice & UiSlice & { actions: DashActions };
export type DashStore = StoreApi<DashState>;

export const EMPTY_TABLE: TableState = Object.freeze({
  selectedKey: null,
  selectedIndex: 0,
  filter: "",
  sort: null,
}) as TableState;

export function tableKeyOf(v: ViewEntry): string {
  return v.param === undefined ? v.id : `${v.id}:${v.param}`;
}

export interface DashStoreInit {
  context?: ContextInfo;
  readOnly?: boolean;
  stack?: ViewEntry[];
  now?: () => number;
  /** Until the leases bucket says otherwise (LEASE_TTL_MS). */
  leaseTtlMs?: number;
  /** How long Operations keeps an op that ended while it was open (default 10 minutes). */
  keepFinishedMs?: number;
}

/** How long Operations keeps an op that ended while the operator had it open, unless configured. */
export const KEEP_FINISHED_MS = 10 * 60_000;

const onStack = (stack: readonly ViewEntry[]) => stack.some((v) => v.id === "ops");

/** Operations' `since`: set when it joins the stack, kept while it stays there, cleared when it leaves. */
function opsSince(before: UiSlice, stack: readonly ViewEntry[], at: number): Partial<UiSlice> {
  const was = before.opsKeep.since;
  const since = onStack(stack) ? (was ?? at) : null;
  return since === was ? {} : { opsKeep: { ...before.opsKeep, since } };
}

const MAX_STACK = 12;
export const HISTORY_MAX = 2000;

const eventKey = (e: AuditEvent) => `${e.kind}|${e.at}|${e.opId ?? ""}|${e.nodeId ?? ""}|${e.message ?? ""}`;

/** Two lists of audit events as one, newest first, each event once. */
function mergeEvents(a: readonly AuditEvent[], b: readonly AuditEvent[]): AuditEvent[] {
  const seen = new Set<string>();
  const out: AuditEvent[] = [];
  for (const e of [...a, ...b]) {
    const k = eventKey(e);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out.sort((x, y) => y.at - x.at).slice(0, HISTORY_MAX);
}

/** The dashboard's one store: cluster state fed by the client, and UI state driven by keys. */
export function createDashStore(init: DashStoreInit = {}): DashStore {
  const now = init.now ?? Date.now;
  let toastSeq = 0;
  const store = createStore<DashState>()((set, get) => ({
    ...emptySlices(),
    heartbeats: new Map(),
    unreadableNodes: new Map(),
    progress: new Map(),
    synced: Object.fromEntries(FEED_BUCKETS.map((b) => [b, false])) as ClusterSlice["synced"],
    lastEventAt: null,
    conn: { state: "connecting", since: now(), attempts: 0 },
    feedProblem: null,
    controller: { leader: null, seenAt: null },
    leaseTtlMs: init.leaseTtlMs ?? LEASE_TTL_MS,
    stats: { events: 0, batches: 0 },

    context: init.context ?? { name: "default", servers: [] },
    readOnly: init.readOnly ?? false,
    stack: init.stack ?? [{ id: "nodes" }],
    tables: {},
    dialog: null,
    prompt: null,
    toast: null,
    history: { status: "idle", data: [] },
    opEvents: {},
    historyFollow: true,
    outcomes: [],
    gallery: { status: "idle", data: [] },
    resolutions: {},
    plans: {},
    picked: {},
    pickedFrom: null,
    opsKeep: {
      all: false,
      since: onStack(init.stack ?? []) ? now() : null,
      keepMs: init.keepFinishedMs ?? KEEP_FINISHED_MS,
    },

    actions: {
      applyBatch: (events, received, at) => set((s) => applyBatch(s, events, received, at ?? now())),
      setConn: (conn) => set({ conn }),
      setFeedProblem: (feedProblem) => set({ feedProblem }),
      controllerAnswered: (at) => set((s) => ({ controller: { ...s.controller, seenAt: at ?? now() } })),
      setLeaseTtl: (leaseTtlMs) => set({ leaseTtlMs }),
      navigate: (entry) =>
        set((s) => {
          const top = s.stack[s.stack.length - 1];
          if (top && top.id === entry.id && top.param === entry.param) return {};
          // Going to a view already on the stack pops back to it instead of growing the stack.
          const at = s.stack.findIndex((v) => v.id === entry.id && v.param === entry.param);
          const stack = at >= 0 ? s.stack.slice(0, at + 1) : [...s.stack, entry].slice(-MAX_STACK);
          // The picker opens empty: a pick made earlier, elsewhere, is never carried into a new install.
          const fresh = entry.id === "install" && !s.stack.some((v) => v.id === "install");
          return {
            stack,
            prompt: null,
            ...opsSince(s, stack, now()),
            ...(fresh ? { picked: {}, pickedFrom: null } : {}),
          };
        }),
      back: () =>
        set((s) => {
          if (s.stack.length <= 1) return {};
          const stack = s.stack.slice(0, -1);
          return { stack, ...opsSince(s, stack, now()) };
        }),
      setTable: (key, patch) =>
        set((s) => ({ tables: { ...s.tables, [key]: { ...(s.tables[key] ?? EMPTY_TABLE), ...patch } } })),
      openDialog: (d) => set({ dialog: { ...d, typed: "", focus: "cancel" }, prompt: null }),
      updateDialog: (patch) => set((s) => (s.dialog ? { dialog: { ...s.dialog, ...patch } } : {})),
      closeDialog: () => set({ dialog: null }),
      openPrompt: (prompt) => set({ prompt }),
      setPromptText: (text) => set((s) => (s.prompt ? { prompt: { ...s.prompt, text } } : {})),
      closePrompt: () => set({ prompt: null }),
      toast: (level, text) => set({ toast: { id: ++toastSeq, level, text, at: now() } }),
      clearToast: (id) => {
        if (get().toast?.id === id) set({ toast: null });
      },
      setHistory: (h) =>
        set((s) => ({
          // Events that arrived live while the load was under way are kept.
          history: h.status === "ok" ? { ...h, data: mergeEvents(h.data, s.history.data) } : h,
        })),
      addHistoryEvents: (events) =>
        set((s) => ({ history: { ...s.history, data: mergeEvents(events, s.history.data) } })),
      toggleHistoryFollow: () => set((s) => ({ historyFollow: !s.historyFollow })),
      addOutcome: (o) =>
        set((s) => ({ outcomes: [{ ...o, id: ++toastSeq, at: now() }, ...s.outcomes].slice(0, 200) })),
      setOpEvents: (opId, e) => set((s) => ({ opEvents: { ...s.opEvents, [opId]: e } })),
      setGallery: (gallery) => set({ gallery }),
      setResolution: (backend, r) => set((s) => ({ resolutions: { ...s.resolutions, [backend]: r } })),
      setPlan: (backend, p) => set((s) => ({ plans: { ...s.plans, [backend]: p } })),
      toggleOpsAll: () => set((s) => ({ opsKeep: { ...s.opsKeep, all: !s.opsKeep.all } })),
      openInstall: (pre) => {
        get().actions.navigate({ id: "install" });
        if (pre && pre.nodes.length > 0) set({ picked: { "": pre.nodes }, pickedFrom: pre.from });
      },
      setPicked: (backend, nodes) => set((s) => ({ picked: { ...s.picked, [backend]: nodes } })),
    },
  }));
  // For the store's life: a rollout seen running that ends is told, whichever view is open.
  watchRolloutEnds(store);
  return store;
}

export function currentView(s: Pick<UiSlice, "stack">): ViewEntry {
  return s.stack[s.stack.length - 1] ?? { id: "nodes" };
}
