import type { BucketSlices, FeedBucket } from "./feed-buckets.js";
import type { ConnectionStatus } from "../client/connection.js";
import type { ViewId } from "../keymap/registry.js";
import type {
  AuditEvent,
  GalleryEntrySummary,
  Heartbeat,
  NodeResolution,
  ProgressEvent,
  RolloutPlanView,
} from "../protocol/index.js";

export interface ViewEntry {
  id: ViewId;
  /** Node id for `node`, backend name for `backend` and for the node step of `install`. */
  param?: string;
}

export interface TableState {
  /** The selected row's key, so the selection follows its row when data reorders. */
  selectedKey: string | null;
  /** Fallback when that row disappears; also the scroll offset of plain (non-selectable) tables. */
  selectedIndex: number;
  filter: string;
  sort: { column: string; desc: boolean } | null;
}

/**
 * What an intent of each kind carries. Each src/views/<view>/intents.ts adds its kinds by
 * declaration merging, with their handlers (describe + run) beside them:
 *
 *   declare module "../../store/types.js" {
 *     interface IntentTypes { cancel: { opIds: string[]; label: string } }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface IntentTypes {}

export type IntentKind = keyof IntentTypes & string;
export type IntentOf<K extends IntentKind> = { kind: K } & IntentTypes[K];
/** A command the operator asked for, as data: confirmed, refused or run by the command runner. */
export type Intent = { [K in IntentKind]: IntentOf<K> }[IntentKind];

export interface Dialog {
  intent: Intent;
  title: string;
  lines: string[];
  /** Label of the action button, e.g. "Upgrade". */
  action: string;
  /** When set, the action is enabled only once this text has been typed (fleet-wide actions). */
  typeToConfirm?: string;
  /**
   * Intents the operator can choose between with j/k (which kept generation a rollback goes to),
   * listed in the dialog's order; `chosen` is the index of `intent` among them.
   */
  choices?: Intent[];
  chosen?: number;
  /** Why the action cannot be pressed yet (a plan still loading, nothing to do); unset when it can. */
  blocked?: string;
  typed: string;
  /** Cancel is focused first, so a stray Enter never confirms. */
  focus: "cancel" | "action";
}

export type PromptKind = "filter" | "jump" | "interval";

export interface Prompt {
  kind: PromptKind;
  text: string;
  /** The table a filter applies to. */
  tableKey?: string;
}

export type ToastLevel = "info" | "ok" | "warn" | "err";
export interface Toast {
  id: number;
  level: ToastLevel;
  text: string;
  at: number;
}

/** How a fan-out started here ended: "upgrade: 3 succeeded, 1 failed" for a backend. */
export interface FanOutOutcome {
  id: number;
  level: ToastLevel;
  text: string;
  backend: string;
  at: number;
  /** What ended: a fan-out started here (the default), or a rollout seen to end. */
  what?: "fan-out" | "rollout";
}

export interface Loadable<T> {
  status: "idle" | "loading" | "ok" | "error";
  data: T;
  error?: string;
  at?: number;
}

export interface ContextInfo {
  name: string;
  servers: string[];
}

/**
 * The watched buckets, one slice each named for its bucket (FEED in feed-buckets.ts says how:
 * `ops` is keyed by op id, `settings` is its one record or null), then what is not a bucket.
 */
export interface ClusterSlice extends BucketSlices {
  heartbeats: ReadonlyMap<string, Heartbeat>;
  /** Node ids whose record does not validate, with the parse error (see FeedEvent `unreadableNode`). */
  unreadableNodes: ReadonlyMap<string, string>;
  /** Latest progress per op id. */
  progress: ReadonlyMap<string, ProgressEvent>;
  synced: Readonly<Record<FeedBucket, boolean>>;
  /** When the last cluster event arrived (epoch ms), null before any. */
  lastEventAt: number | null;
  conn: ConnectionStatus;
  /** A problem with the feed itself (a watch that failed to start). */
  feedProblem: string | null;
  /**
   * The controller as last heard: the holder of its lease, and when (our clock) the lease was last
   * renewed or a controller last answered a request; null before either.
   */
  controller: { leader: string | null; seenAt: number | null };
  /** The lease TTL (the leases bucket's max age): silence longer than this means no controller. */
  leaseTtlMs: number;
  /** Raw events and store updates so far: the ratio is the coalescing at work. */
  stats: { events: number; batches: number };
}

export interface UiSlice {
  context: ContextInfo;
  readOnly: boolean;
  stack: ViewEntry[];
  tables: Readonly<Record<string, TableState>>;
  dialog: Dialog | null;
  prompt: Prompt | null;
  toast: Toast | null;
  history: Loadable<AuditEvent[]>;
  /** History stays at the top as new events arrive (else it holds the rows on screen). */
  historyFollow: boolean;
  /** How each fan-out this dashboard started ended (History lists them with the audit trail), newest first. */
  outcomes: readonly FanOutOutcome[];
  /** The audit trail of one op (op detail view), per op id. */
  opEvents: Readonly<Record<string, Loadable<AuditEvent[]>>>;
  gallery: Loadable<GalleryEntrySummary[]>;
  resolutions: Readonly<Record<string, Loadable<NodeResolution[]>>>;
  /** A rollout's plan (dry run) per backend, as the `u` dialog last asked for it; null before it came. */
  plans: Readonly<Record<string, Loadable<RolloutPlanView | null>>>;
  /**
   * Which finished ops Operations lists: all of them (a key toggles it), or those that ended since
   * the operator opened it (`since`, null while it is not on the stack), for up to `keepMs`.
   */
  opsKeep: { all: boolean; since: number | null; keepMs: number };
  /** Nodes chosen in the install picker, per backend (`""`: chosen before a backend was); empty when it opens. */
  picked: Readonly<Record<string, readonly string[]>>;
  /** Where the picker's pre-selection came from ("Nodes"), shown plainly; null when it started empty. */
  pickedFrom: string | null;
}

export type { ConnectionStatus, FeedBucket };
