import type { ClusterClient, Entry } from "../client/index.js";
import type { GalleryCatalog } from "../gallery/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { Periodic } from "../lib/periodic.js";
import { SingleFlight } from "../lib/single-flight.js";
import type { Telemetry } from "../lib/telemetry.js";
import {
  newRolloutId,
  parseSelector,
  parseStrategy,
  rolloutEnded,
  rolloutNodeKey,
  strategyDefaults,
  type ApiRequest,
  type OpRecord,
  type Rollout,
  type RolloutNode,
  type RolloutPlanView,
  type Settings,
} from "../protocol/index.js";
import { PAGE_BYTES, takePage, type ApiResult } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import {
  abortRollout,
  createRollout,
  decideRollout,
  dismissRollout,
  pauseRollout,
  planRollout,
  promoteRollout,
  resumeRollout,
  type RolloutEvent,
  type RolloutFacts,
  type RolloutPlan,
  type RolloutStep,
} from "./decide/rollout.js";
import {
  DEFAULT_ROLLOUT_RETENTION,
  planRetention,
  type RolloutRetention,
} from "./decide/rollout-retention.js";
import { ApiError, conflict, notFound } from "./errors.js";
import type { LeaderDuty } from "./duties.js";
import { mapLimit } from "./map-limit.js";
import { planView } from "./plan-view.js";
import type { Operations } from "./operations.js";
import { windowOf, type SettingsStore } from "./settings-store.js";
import { LIST_MIRROR_WAIT_MS, type ClusterView } from "./view.js";

export interface RolloutDeps {
  client: ClusterClient;
  view: ClusterView;
  ops: Operations;
  audit: Audit;
  catalog: () => GalleryCatalog;
  settings: SettingsStore;
  telemetry: Telemetry;
  /** Pause between the leader's passes (default 1 s). */
  intervalMs?: number;
  /** Which ended rollouts the leader removes, and how often it looks (default every minute). */
  retention?: Partial<RolloutRetention> & { everyMs?: number };
}

const CONCURRENCY = 64;

/** The actor of what auto-upgrade does (ops, rollouts, audit events). */
export const AUTO_UPGRADE = "auto-upgrade";

/** Keeps the newer of two copies of a record: the view's, or the one this replica just wrote. */
class Overlay<V> {
  private readonly mine = new Map<string, Entry<V>>();
  latest(key: string, seen: Entry<V> | undefined): Entry<V> | undefined {
    const m = this.mine.get(key);
    if (!m) return seen;
    if (seen && seen.revision >= m.revision) {
      this.mine.delete(key);
      return seen;
    }
    return m;
  }
  wrote(key: string, e: Entry<V>): void {
    this.mine.set(key, e);
  }
  clear(): void {
    this.mine.clear();
  }
}

/** The facts a rollout is decided from, as this replica sees them. */
function factsOf(view: ClusterView, catalog: GalleryCatalog, settings: Settings): RolloutFacts {
  const ops = new Map<string, OpRecord>();
  for (const e of view.ops.values()) ops.set(e.value.id, e.value);
  return {
    nodes: view.nodeRecords(),
    inventories: view.inventories,
    ops,
    policy: view.policy,
    devSuffix: catalog.devSuffix,
    window: windowOf(settings),
  };
}

/**
 * Leader only: every interval, one pass of `decideRollout` over each rollout that has not
 * ended, applied through the normal op path (`Operations.admitExact` with the rollout's derived
 * op ids and pinned builds, rollback ops for reverts, `Operations.cancel`) and compare-and-set
 * writes of its rows and head. A write that loses a race is dropped: the next pass decides again
 * from the newer record.
 */
export class RolloutDuty implements LeaderDuty {
  readonly name = "rollouts";
  private active = false;
  private readonly loop: Periodic;
  private readonly passes = new SingleFlight(() => this.run());
  private readonly heads = new Overlay<Rollout>();
  private readonly rows = new Overlay<RolloutNode>();
  private readonly log: Logger;
  private readonly actor: string;
  private readonly retention: RolloutRetention & { everyMs: number };
  private retainedAt = 0;

  constructor(
    private readonly d: RolloutDeps,
    replicaId = "leader",
  ) {
    this.log = d.telemetry.log;
    this.actor = `rollouts@${replicaId}`;
    this.retention = { ...DEFAULT_ROLLOUT_RETENTION, everyMs: 60_000, ...d.retention };
    this.loop = new Periodic({
      intervalMs: d.intervalMs ?? 1000,
      run: () => this.pass(),
      onError: (e) => this.log.warn("rollout pass failed", { error: errorMessage(e) }),
    });
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.heads.clear();
    this.rows.clear();
    this.retainedAt = 0;
    this.loop.start({ now: true });
  }

  async stop(): Promise<void> {
    this.active = false;
    await this.loop.stop();
    await this.passes.inFlight?.catch(() => {});
  }

  /** One pass over every rollout; concurrent callers share it. */
  pass(): Promise<void> {
    return this.passes.run();
  }

  private async run(): Promise<void> {
    const { view } = this.d;
    const byRollout = new Map<string, Array<Entry<RolloutNode>>>();
    for (const [key, seen] of view.records.rollout_nodes) {
      const e = this.rows.latest(key, seen)!;
      const list = byRollout.get(e.value.rollout) ?? [];
      list.push(e);
      byRollout.set(e.value.rollout, list);
    }
    const facts = factsOf(view, this.d.catalog(), this.d.settings.current());
    for (const [key, seen] of view.records.rollouts) {
      if (!this.active) return;
      const head = this.heads.latest(key, seen)!;
      if (rolloutEnded(head.value.state)) continue;
      // The two buckets are watched apart: a head can arrive before the rows written ahead of it.
      // Deciding on a partial set would pass the gate of a wave whose nodes are not seen yet.
      const rows = byRollout.get(head.value.id) ?? [];
      if (rows.length < head.value.total) {
        this.log.debug("rollout rows not all seen yet", { rollout: head.value.id, rows: rows.length });
        continue;
      }
      try {
        await this.passOne(head, rows, facts);
      } catch (e) {
        this.log.warn("rollout pass failed", { rollout: head.value.id, error: errorMessage(e) });
      }
    }
    const now = Date.now();
    if (this.active && now - this.retainedAt >= this.retention.everyMs) {
      this.retainedAt = now;
      await this.retain(now).catch((e: unknown) =>
        this.log.warn("removing old rollouts failed", { error: errorMessage(e) }),
      );
    }
  }

  /** Removes the ended rollouts retention lets go: their rows first, then the head. */
  private async retain(now: number): Promise<void> {
    const { client, view } = this.d;
    const heads = [...view.records.rollouts.values()];
    const rows = [...view.records.rollout_nodes].map(([key, e]) => ({
      key,
      rollout: e.value.rollout,
      at: e.value.at,
    }));
    const plan = planRetention(
      heads.map((e) => e.value),
      rows,
      now,
      this.retention,
    );
    if (plan.heads.length === 0 && plan.rows.length === 0) return;
    const failedRows = new Set<string>();
    const rolloutOf = new Map(rows.map((x) => [x.key, x.rollout]));
    await mapLimit(plan.rows, CONCURRENCY, async (key) => {
      if (!this.active) return;
      await client.delete("rollout_nodes", key).catch(() => failedRows.add(rolloutOf.get(key) ?? ""));
    });
    const revisions = new Map(heads.map((e) => [e.value.id, e.revision]));
    let removed = 0;
    for (const id of plan.heads) {
      if (!this.active || failedRows.has(id)) continue;
      // At the revision retention judged: a head changed since (dismissed, say) is judged again.
      await client
        .delete("rollouts", id, revisions.get(id))
        .then(() => removed++)
        .catch((e: unknown) =>
          this.log.debug("rollout head not removed", { rollout: id, error: errorMessage(e) }),
        );
    }
    this.log.info("removed old rollouts", { rollouts: removed, rows: plan.rows.length });
  }

  private async passOne(head: Entry<Rollout>, rowEntries: Array<Entry<RolloutNode>>, facts: RolloutFacts) {
    const { client, ops } = this.d;
    const r = head.value;
    const p = decideRollout(
      r,
      rowEntries.map((e) => e.value),
      facts,
      Date.now(),
      this.actor,
    );
    const requestedBy = `rollout ${r.id}`;
    const notAdmitted = new Set<string>();
    const revertRefused = new Map<string, string>();
    await mapLimit(p.admit, CONCURRENCY, async (a) => {
      try {
        const res = await ops.admitExact(
          { kind: "upgrade", backend: a.backend, actor: requestedBy },
          a.nodeId,
          a.opId,
          a.target,
        );
        if ("error" in res || res.opId !== a.opId) notAdmitted.add(a.nodeId);
      } catch (e) {
        notAdmitted.add(a.nodeId);
        this.log.warn("rollout op not admitted", { rollout: r.id, nodeId: a.nodeId, error: errorMessage(e) });
      }
    });
    await mapLimit(p.revert, CONCURRENCY, async (a) => {
      try {
        const res = await ops.admitExact(
          { kind: "rollback", backend: a.backend, actor: requestedBy },
          a.nodeId,
          a.opId,
        );
        if ("error" in res) revertRefused.set(a.nodeId, res.error);
        else if (res.opId !== a.opId) notAdmitted.add(a.nodeId);
      } catch (e) {
        notAdmitted.add(a.nodeId);
        this.log.warn("rollout revert not admitted", {
          rollout: r.id,
          nodeId: a.nodeId,
          error: errorMessage(e),
        });
      }
    });
    await mapLimit(p.cancel, CONCURRENCY, (c) => ops.cancel(c.opId, requestedBy).catch(() => undefined));

    const revisions = new Map(rowEntries.map((e) => [e.value.node, e.revision]));
    await mapLimit(p.rows, CONCURRENCY, async (row) => {
      // A node whose admission did not happen stays as it was: the next pass decides again.
      if (notAdmitted.has(row.node) && (row.o === "run" || row.o === "revert")) return;
      const refused = revertRefused.get(row.node);
      const value: RolloutNode = refused
        ? { ...row, o: "revert-fail", why: `revert refused: ${refused}` }
        : row;
      const key = rolloutNodeKey(r.id, row.node);
      try {
        const revision = await client.update("rollout_nodes", key, value, revisions.get(row.node) ?? 0);
        this.rows.wrote(key, { value, revision });
      } catch (e) {
        this.log.debug("rollout row not written", { key, error: errorMessage(e) });
      }
    });
    if (p.rollout) {
      try {
        const revision = await client.update("rollouts", r.id, p.rollout, head.revision);
        this.heads.wrote(r.id, { value: p.rollout, revision });
      } catch (e) {
        this.log.debug("rollout head not written", { rollout: r.id, error: errorMessage(e) });
        return;
      }
    }
    for (const ev of p.events) this.post(r, ev);
  }

  private post(r: Rollout, ev: RolloutEvent): void {
    this.log.info(ev.message, { rollout: r.id, kind: ev.kind });
    void this.d.audit.post(ev.kind, {
      actor: this.actor,
      backend: r.backend,
      nodeId: ev.nodeId,
      message: `${r.id}: ${ev.message}`.slice(0, 4096),
    });
  }
}

/** The rollouts API: plan, start, read, and the operator's actions (compare-and-set on the head). */
export class Rollouts {
  constructor(private readonly d: RolloutDeps) {}

  /** A plan for `req`: its strategy flags over the settings' defaults. */
  private async plan(
    req: ApiRequest<"rollouts.start">,
    digests?: ReadonlyMap<string, string>,
  ): Promise<RolloutPlan> {
    const settings = await this.d.settings.get();
    const strategy = parseStrategy(req, strategyDefaults(settings));
    if (!strategy.ok) throw new ApiError("bad_request", strategy.error, strategy.field);
    let selector;
    if (req.selector !== undefined) {
      if (req.nodes) throw new ApiError("bad_request", "give nodes or a selector, not both", "selector");
      const s = parseSelector(req.selector);
      if (!s.ok) throw new ApiError("bad_request", s.error, "selector");
      selector = s.selector;
    }
    const catalog = this.d.catalog();
    const p = planRollout(
      { backend: req.backend, nodes: req.nodes, selector, strategy: strategy.strategy },
      { ...factsOf(this.d.view, catalog, settings), catalog, digests },
    );
    if (!p.ok) throw new ApiError(p.code, p.error, p.field);
    return p.plan;
  }

  async dryRun(req: ApiRequest<"rollouts.plan">): Promise<{ plan: RolloutPlanView }> {
    return { plan: planView(await this.plan(req)) };
  }

  /**
   * Auto-upgrade's rollout of `backend` over the nodes the check flagged, with the default
   * strategy, pinned to the digests the check saw. Null (nothing created) when the plan moves
   * no node: every flagged node is skipped for now, and the next check looks again.
   */
  async startAuto(
    backend: string,
    nodes: string[],
    digests: ReadonlyMap<string, string>,
  ): Promise<{ rollout: Rollout } | { skipped: RolloutPlan["skipped"] }> {
    const running = await this.activeOf(backend);
    if (running)
      throw conflict(`a rollout of ${backend} is already ${running.state} (${running.id})`, "backend");
    const plan = await this.plan({ backend, nodes }, digests);
    if (plan.waves.every((w) => w.length === 0)) return { skipped: plan.skipped };
    return this.create(plan, AUTO_UPGRADE, "auto-upgrade");
  }

  async start(req: ApiRequest<"rollouts.start">, actor: string): Promise<{ rollout: Rollout }> {
    const running = await this.activeOf(req.backend);
    if (running) {
      throw conflict(`a rollout of ${req.backend} is already ${running.state} (${running.id})`, "backend");
    }
    return this.create(await this.plan(req), actor, "operator");
  }

  /** Read through the view once it holds every rollout, this replica's own just-written ones too. */
  private async activeOf(backend: string): Promise<Rollout | undefined> {
    const rows =
      (await this.d.view.listed("rollouts", "", LIST_MIRROR_WAIT_MS))?.rows ??
      (await this.d.client.list("rollouts"));
    return rows.find((e) => e.value.backend === backend && !rolloutEnded(e.value.state))?.value;
  }

  private async create(
    plan: RolloutPlan,
    actor: string,
    origin: "operator" | "auto-upgrade",
  ): Promise<{ rollout: Rollout }> {
    const now = Date.now();
    const { rollout, rows } = createRollout(plan, newRolloutId(now), actor, now, origin);
    // The rows first: a head is never without its rows in the buckets (the leader's view may
    // still see it so for a moment; its pass waits for them).
    await mapLimit(rows, 256, (row) =>
      this.d.client.create("rollout_nodes", rolloutNodeKey(rollout.id, row.node), row),
    );
    this.d.view.wrote("rollouts", await this.d.client.create("rollouts", rollout.id, rollout));
    void this.d.audit.post("rollout.created", {
      actor,
      backend: rollout.backend,
      message:
        `${rollout.id}: ${rollout.backend}${rollout.galleryVersion ? ` to ${rollout.galleryVersion}` : ""}, ` +
        `${rollout.eligible} of ${rollout.total} nodes in ${rollout.waves.length} waves` +
        (origin === "auto-upgrade" ? " (auto-upgrade)" : ""),
    });
    return { rollout };
  }

  list(all: boolean): { rollouts: Rollout[] } {
    const rollouts = [...this.d.view.records.rollouts.values()]
      .map((e) => e.value)
      .filter((r) => all || !rolloutEnded(r.state) || (r.state !== "succeeded" && !r.dismissed))
      .sort((a, b) => a.createdAt - b.createdAt);
    return { rollouts };
  }

  /** The rollout and a page of its nodes by position (`i`); the page and the rollout fit one reply. */
  async get(q: { id: string; limit: number; after?: number }): Promise<ApiResult<"rollouts.get">> {
    // The rollout alone (a watch's poll): no node row read.
    if (q.limit === 0) {
      const rollout = await this.head(q.id);
      return { rollout, nodes: [], total: rollout.total };
    }
    const { rollout, nodes } = await this.withNodes(q.id);
    const page = takePage(nodes, (n) => n.i, {
      ...q,
      maxBytes: PAGE_BYTES - Buffer.byteLength(JSON.stringify(rollout)),
    });
    return {
      rollout,
      nodes: page.rows,
      total: page.total,
      ...(page.next === undefined ? {} : { next: page.next }),
    };
  }

  /** The rollout and every one of its nodes, by position. */
  private async head(id: string): Promise<Rollout> {
    const head = await this.d.client.get("rollouts", id);
    if (!head) throw notFound(`no rollout ${id}`, "id");
    return head.value;
  }

  private async withNodes(id: string): Promise<{ rollout: Rollout; nodes: RolloutNode[] }> {
    const rollout = await this.head(id);
    const rows =
      (await this.d.view.listed("rollout_nodes", `${id}.`, LIST_MIRROR_WAIT_MS))?.rows ??
      (await this.d.client.list("rollout_nodes", `${id}.>`));
    return { rollout, nodes: rows.map((row) => row.value).sort((a, b) => a.i - b.i) };
  }

  async act(
    id: string,
    action: "pause" | "resume" | "promote" | "abort" | "dismiss",
    actor: string,
    reason?: string,
  ): Promise<{ rollout: Rollout }> {
    let rows: RolloutNode[] = [];
    if (action === "resume" || action === "promote") rows = (await this.withNodes(id)).nodes;
    let step: RolloutStep | undefined;
    const entry = await this.d.client.modify("rollouts", id, (r) => {
      const now = Date.now();
      step =
        action === "pause"
          ? pauseRollout(r, actor, now, reason)
          : action === "resume"
            ? resumeRollout(r, rows, actor, now)
            : action === "promote"
              ? promoteRollout(r, rows, actor, now)
              : action === "abort"
                ? abortRollout(r, actor, now)
                : dismissRollout(r, actor, now);
      return step.kind === "write" ? step.rollout : null;
    });
    if (!entry) throw notFound(`no rollout ${id}`, "id");
    if (!step || step.kind === "refuse") throw conflict(step?.why ?? `rollout ${id} did not change`, "id");
    void this.d.audit.post(step.event.kind, {
      actor,
      backend: entry.value.backend,
      message: `${id}: ${step.event.message}`,
    });
    return { rollout: entry.value };
  }
}
