import type { ClusterClient, Entry, UnreadableRow, Watcher } from "../client/index.js";
import { internStrings } from "../lib/intern.js";
import {
  onlyKey,
  policyOf,
  SETTINGS_KEY,
  isTerminal,
  type BucketKey,
  type BucketValue,
  type Inventory,
  type NodeRecord,
  type OpRecord,
  type PolicyRecord,
  type Rollout,
  type RolloutNode,
  type RolloutPolicy,
  type Settings,
  type UpgradeInfo,
} from "../protocol/index.js";

export type ViewChange =
  | { type: "node"; key: string; value: NodeRecord | null }
  | { type: "inventory"; key: string; value: Inventory | null }
  | { type: "op"; key: string; value: OpRecord | null; prev: OpRecord | null }
  | { type: "upgrade"; key: string; value: UpgradeInfo | null }
  | { type: "settings"; value: Settings | null }
  | { type: "rollout"; key: string; value: Rollout | null }
  | { type: "rolloutNode"; key: string; value: RolloutNode | null }
  | { type: "policy"; key: string; value: PolicyRecord | null };

/**
 * How long a list waits to learn whether this replica's copy of a bucket is current (and for it
 * to catch up) before reading the bucket itself.
 */
export const LIST_MIRROR_WAIT_MS = 500;

/**
 * A bucket whose latest revision cannot be read within this long is taken to have no stream
 * leader (nothing newer than this copy can be written then). Generous: a leader slow to answer
 * on a loaded machine must not make a list answer from a copy that lags.
 */
const LEADERLESS_AFTER_MS = 2_000;

/** A lagging watch is started afresh at most this often. */
const LAGGING_RESTART_MS = 2_000;

/** How a change to one record of bucket B is announced (and streamed on /api/events). */
export type Announce<B extends BucketKey> = (
  key: string,
  value: BucketValue<B> | null,
  prev: BucketValue<B> | null,
) => ViewChange;

/** The mirror's decision for every bucket of the table; a bucket left out does not compile. */
export type MirrorSpecs = { readonly [B in BucketKey]: Announce<B> | null };

/**
 * What this replica mirrors of each bucket in the table; null: not mirrored. Every bucket must
 * be listed, so a new one does not compile until it is decided here.
 */
export const MIRROR = {
  nodes: (key, value) => ({ type: "node", key, value }),
  inventory: (key, value) => ({ type: "inventory", key, value }),
  ops: (key, value, prev) => ({ type: "op", key, value, prev }),
  upgrades: (key, value) => ({ type: "upgrade", key, value }),
  // Rows per node for people (dashboard, CLI); auto-upgrade gets the check's findings directly.
  upgrade_nodes: null,
  settings: (_key, value) => ({ type: "settings", value }),
  // The upgrade checker writes it for people; no decision reads it.
  checks: null,
  rollouts: (key, value) => ({ type: "rollout", key, value }),
  rollout_nodes: (key, value) => ({ type: "rolloutNode", key, value }),
  // Holds and pins: rollouts and admission decide with them.
  policy: (key, value) => ({ type: "policy", key, value }),
  // The lease reads and writes its own key; nothing else looks at it.
  leases: null,
  requests: null,
} as const satisfies MirrorSpecs;

export type MirroredBucket = { [B in BucketKey]: (typeof MIRROR)[B] extends null ? never : B }[BucketKey];
const MIRRORED = (Object.keys(MIRROR) as BucketKey[]).filter((b): b is MirroredBucket => MIRROR[b] !== null);
const announce: { readonly [B in MirroredBucket]: Announce<B> } = MIRROR;

export type Mirror = { readonly [B in MirroredBucket]: Map<string, Entry<BucketValue<B>>> };

/** The values of a mirrored bucket by key, without their revisions (a copy). */
function valuesOf<V>(entries: ReadonlyMap<string, Entry<V>>): Map<string, V> {
  return new Map([...entries].map(([k, e]) => [k, e.value]));
}

/**
 * This replica's live copy of the cluster state, fed by KV watches: the initial state, then
 * every change. Decisions read it; writes always go to KV with compare-and-set, so a copy that
 * lags by a few milliseconds can cost a retry but never a wrong write.
 */
export class ClusterView {
  /** Every mirrored bucket's records by KV key, with their revisions. */
  readonly records: Mirror = Object.fromEntries(MIRRORED.map((b) => [b, new Map()])) as unknown as Mirror;
  /**
   * Keys of mirrored buckets whose latest value does not validate, with why: left out of
   * `records` (a decision never runs on a stale copy) but known, so they can be shown and repaired.
   */
  readonly unreadable: { readonly [B in MirroredBucket]: Map<string, UnreadableRow> } = Object.fromEntries(
    MIRRORED.map((b) => [b, new Map()]),
  ) as unknown as { [B in MirroredBucket]: Map<string, UnreadableRow> };
  /** The latest revision each mirrored bucket's watch has delivered (puts, deletes, malformed). */
  private readonly seen = new Map<MirroredBucket, number>();
  /** The latest revision this replica itself wrote to each bucket (see wrote). */
  private readonly written = new Map<MirroredBucket, number>();
  private readonly progress = new Set<() => void>();
  private readonly watchers: Watcher[] = [];
  private readonly watcherOf = new Map<MirroredBucket, Watcher>();
  /** When each bucket's watch was last restarted for lagging (see listed). */
  private readonly restartedAt = new Map<MirroredBucket, number>();
  private readonly listeners = new Set<(c: ViewChange, initial: boolean) => void>();
  private ready = false;

  constructor(private readonly client: ClusterClient) {}

  get nodes(): Map<string, Entry<NodeRecord>> {
    return this.records.nodes;
  }
  get ops(): Map<string, Entry<OpRecord>> {
    return this.records.ops;
  }
  /** A copy, by node id. */
  get inventories(): Map<string, Inventory> {
    return valuesOf(this.records.inventory);
  }
  /** A copy, by backend name. */
  get upgrades(): Map<string, UpgradeInfo> {
    return valuesOf(this.records.upgrades);
  }
  /** The holds and pins in force, as rollouts and admission read them. */
  get policy(): RolloutPolicy {
    return policyOf([...this.records.policy.values()].map((e) => e.value));
  }
  get settings(): Settings | null {
    return this.records.settings.get(SETTINGS_KEY)?.value ?? null;
  }

  /** Subscribe to changes; `initial` is true for entries delivered before the view was ready. */
  onChange(l: (c: ViewChange, initial: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private emit(c: ViewChange): void {
    for (const l of this.listeners) l(c, !this.ready);
  }

  async start(): Promise<void> {
    for (const b of MIRRORED) {
      const w = this.mirror(b);
      this.watchers.push(w);
      this.watcherOf.set(b, w);
    }
    await Promise.all(this.watchers.map((w) => w.ready));
    this.ready = true;
  }

  private mirror<B extends MirroredBucket>(b: B): Watcher {
    const records: Map<string, Entry<BucketValue<B>>> = this.records[b];
    const change: Announce<B> = announce[b];
    const unreadable = this.unreadable[b];
    const only = onlyKey(b);
    // 30 rows × 10,000 nodes repeat the same few backend names, URIs, digests and dates.
    const compact = b === "inventory";
    const saw = (revision: number) => {
      this.seen.set(b, Math.max(this.seen.get(b) ?? 0, revision));
      for (const p of this.progress) p();
    };
    return this.client.watch(
      b,
      (e) => {
        if (e.type === "ready") return;
        saw(e.revision);
        const cur = records.get(e.key);
        if (e.type === "put") {
          // A re-created watch may replay revisions already seen.
          if (cur && cur.revision >= e.revision) return;
          records.set(e.key, { value: compact ? internStrings(e.value) : e.value, revision: e.revision });
        } else records.delete(e.key);
        unreadable.delete(e.key);
        this.emit(change(e.key, e.type === "put" ? e.value : null, cur?.value ?? null));
      },
      {
        // A one-record bucket (settings) is watched at its key only.
        ...(only === undefined ? {} : { key: only }),
        // The watch has logged it (once per revision); the stale copy goes, the key is remembered.
        onInvalid: (key, error, revision) => {
          saw(revision);
          const cur = records.get(key);
          if (cur && cur.revision >= revision) return;
          records.delete(key);
          unreadable.set(key, { key, error, revision });
          if (cur) this.emit(change(key, null, cur.value));
        },
      },
    );
  }

  /**
   * The current state as changes (prev: null), bucket by bucket in the table's order. A
   * one-record bucket always has one, its value or null.
   */
  snapshot(): ViewChange[] {
    return MIRRORED.flatMap((b) => this.snapshotOf(b));
  }

  private snapshotOf<B extends MirroredBucket>(b: B): ViewChange[] {
    const records: Map<string, Entry<BucketValue<B>>> = this.records[b];
    const change: Announce<B> = announce[b];
    const only = onlyKey(b);
    if (only !== undefined) return [change(only, records.get(only)?.value ?? null, null)];
    return [...records].map(([key, e]) => change(key, e.value, null));
  }

  /**
   * True once the whole-bucket watches of `buckets` have delivered everything written to them up to
   * now (the buckets' latest revisions), waiting up to `timeoutMs` for them to catch up; false if
   * they have not (a watch restarting after a reconnect), or the revisions cannot be read.
   */
  async current(buckets: readonly MirroredBucket[], timeoutMs: number): Promise<boolean> {
    if (!this.ready || buckets.some((b) => onlyKey(b) !== undefined)) return false;
    let latest: number[];
    try {
      latest = await Promise.all(buckets.map((b) => this.client.lastRevision(b)));
    } catch {
      return false;
    }
    const caughtUp = () => buckets.every((b, i) => (this.seen.get(b) ?? 0) >= latest[i]!);
    if (caughtUp()) return true;
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(t);
        this.progress.delete(check);
        resolve(v);
      };
      const check = () => caughtUp() && done(true);
      const t = setTimeout(() => {
        buckets.forEach((b, i) => (this.seen.get(b) ?? 0) < latest[i]! && this.restartLagging(b));
        done(false);
      }, timeoutMs);
      this.progress.add(check);
    });
  }

  /**
   * This replica wrote `revision` to `b`: a list answered from this copy includes it even when the
   * bucket's latest revision cannot be read in time (read-your-writes on a loaded machine).
   */
  wrote(b: MirroredBucket, revision: number): void {
    this.written.set(b, Math.max(this.written.get(b) ?? 0, revision));
  }

  /**
   * A mirrored bucket's records (and unreadable keys) under `keyPrefix`, from this copy, when it
   * holds everything the bucket does: its watch has seen the bucket's latest revision (waiting up
   * to `timeoutMs` for it), or that revision cannot be read (LEADERLESS_AFTER_MS: the bucket's
   * stream has no leader, say while one of three servers dies, and then nothing new can be
   * written either). Null when the copy lags (its watch restarting): the caller reads the bucket
   * itself. A list answered this way costs no consumer, which during a server loss may be placed
   * on the dead server and never answer.
   */
  async listed<B extends MirroredBucket>(
    b: B,
    keyPrefix: string,
    timeoutMs: number,
  ): Promise<{ rows: Array<{ key: string } & Entry<BucketValue<B>>>; unreadable: UnreadableRow[] } | null> {
    if (!this.ready) return null;
    let latest: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      latest = await Promise.race([
        this.client.lastRevision(b),
        new Promise<undefined>(
          (resolve) => (timer = setTimeout(() => resolve(undefined), LEADERLESS_AFTER_MS)),
        ),
      ]);
    } catch {
      latest = undefined;
    } finally {
      clearTimeout(timer);
    }
    // Never older than what this replica wrote itself, even when the bucket did not say.
    const own = this.written.get(b);
    const need = latest === undefined ? own : Math.max(latest, own ?? 0);
    if (need !== undefined && !(await this.caughtUp(b, need, timeoutMs))) {
      this.restartLagging(b);
      return null;
    }
    const records: Map<string, Entry<BucketValue<B>>> = this.records[b];
    const rows = [...records].filter(([key]) => key.startsWith(keyPrefix)).map(([key, e]) => ({ key, ...e }));
    const unreadable = [...this.unreadable[b].values()].filter((u) => u.key.startsWith(keyPrefix));
    return { rows, unreadable };
  }

  /**
   * A watch that has not delivered what its bucket holds for a while may have lost its consumer
   * with the server that held it; its ordered consumer would notice only after two missed
   * heartbeats (10 s, then 60 s). Start it afresh, at most once per interval.
   */
  private restartLagging(b: MirroredBucket): void {
    const now = Date.now();
    if (now - (this.restartedAt.get(b) ?? 0) < LAGGING_RESTART_MS) return;
    this.restartedAt.set(b, now);
    this.watcherOf.get(b)?.restart();
  }

  private caughtUp(b: MirroredBucket, latest: number, timeoutMs: number): Promise<boolean> {
    const done = () => (this.seen.get(b) ?? 0) >= latest;
    if (done()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (v: boolean) => {
        clearTimeout(t);
        this.progress.delete(check);
        resolve(v);
      };
      const check = () => done() && finish(true);
      const t = setTimeout(() => finish(false), timeoutMs);
      this.progress.add(check);
    });
  }

  activeOps(): OpRecord[] {
    return [...this.ops.values()].map((e) => e.value).filter((op) => !isTerminal(op.state));
  }

  nodeRecords(): Map<string, NodeRecord> {
    return valuesOf(this.records.nodes);
  }

  stop(): void {
    for (const w of this.watchers) w.stop();
    this.watchers.length = 0;
    this.watcherOf.clear();
  }
}
