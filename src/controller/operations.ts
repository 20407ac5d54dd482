import {
  ContentionError,
  isCasConflict,
  MalformedRecordError,
  whileTransient,
  type ClusterClient,
  type Entry,
  type WorkQueue,
} from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { GalleryCatalog } from "../gallery/index.js";
import {
  SCHEMA_VERSION,
  cancelOp,
  dismissOp,
  isActive,
  needsAttention,
  newOpId,
  opKey,
  reapOp,
  retryOp,
  written,
  parseSelector,
  type Admitted,
  type AdmitReply,
  type CancelSignal,
  type InstallTarget,
  type Inventory,
  type NodeRecord,
  type OpKind,
  type OpRecord,
  type Refused,
  type Selector,
  type Step,
} from "../protocol/index.js";
import { takePage, type ApiResult } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import type { ClaimStore } from "./claims.js";
import { activeConflict, planAdmission, type ClusterFacts } from "./decide/admission.js";
import { ApiError, conflict, notFound, unavailableWhenContended } from "./errors.js";
import { mapLimit } from "./map-limit.js";
import { admitReply } from "./admit-reply.js";
import type { ControllerTelemetry } from "./metrics.js";
import { LIST_MIRROR_WAIT_MS, type ClusterView } from "./view.js";

/** A user's transition inside a compare-and-set: the record to write, null to leave it, or a 409. */
function allowed(step: Step): OpRecord | null {
  if (step.kind === "refuse") throw conflict(step.why, "opId");
  return written(step);
}

export interface OpsDeps {
  client: ClusterClient;
  view: ClusterView;
  claims: ClaimStore;
  work: WorkQueue;
  audit: Audit;
  catalog: () => GalleryCatalog;
  telemetry: ControllerTelemetry;
}

export interface AdmitRequest {
  kind: OpKind;
  backend: string;
  nodes?: string[];
  /** Instead of nodes: a label selector over node labels, matched here (see Targets). */
  selector?: string;
  /** install only: an image reference outside every gallery. */
  source?: string;
  /** Rollback only: the kept generation to go back to. */
  generation?: string;
  /** Act on held nodes, and past a pinned version, too. */
  force?: boolean;
  actor: string;
}

export interface ListQuery {
  all: boolean;
  nodeId?: string;
  backend?: string;
  kind?: OpKind;
  limit: number;
  /** The key of the previous page's last op. */
  after?: string;
}

/** In-flight admissions per request: enough to keep JetStream busy, bounded for huge fan-outs. */
const CONCURRENCY = 512;
/** Direct reads in flight for nodes a lagging view does not know; beyond this many, whole-bucket reads. */
const READ_CONCURRENCY = 64;
/** How long admission waits for a lagging view to catch up before reading nodes directly. */
const MIRROR_WAIT_MS = 250;
/** How long admitting one node waits out a stream without a leader before refusing it. */
export const ADMIT_WAIT_MS = 8_000;

/**
 * Operations as the API sees them: admission (record first, then work), cancel (persisted
 * before it is signalled), dismiss, retry, and reads. Every state change is a compare-and-set
 * on the op record, retried after re-reading when another writer got there first.
 */
/** The version and digest a node has of a backend (a meta's concrete), as its inventory says. */
function installedBefore(inv: Inventory | undefined, name: string): OpRecord["from"] {
  const row = inv?.backends.find((b) => b.name === name);
  const concrete = row?.isMeta ? inv?.backends.find((b) => b.name === row.metadata.meta_backend_for) : row;
  if (!concrete || (!concrete.metadata.version && !concrete.metadata.digest)) return undefined;
  return { version: concrete.metadata.version, digest: concrete.metadata.digest };
}

/** The request's selector, parsed; a bad one, or one given with nodes, is a bad request. */
function parseTargetSelector(req: AdmitRequest): Selector | undefined {
  if (req.selector === undefined) return undefined;
  if (req.nodes) throw new ApiError("bad_request", "give nodes or a selector, not both", "selector");
  const s = parseSelector(req.selector);
  if (!s.ok) throw new ApiError("bad_request", s.error, "selector");
  // An empty selector matches every node, as in Kubernetes: install or roll back everywhere.
  return s.selector;
}

export class Operations {
  private readonly log: Logger;

  constructor(private readonly d: OpsDeps) {
    this.log = d.telemetry.log;
  }

  // ------------------------------------------------------------------ admission

  async admit(req: AdmitRequest): Promise<AdmitReply> {
    const selector = parseTargetSelector(req);
    const facts = await this.facts(req.nodes, selector !== undefined);
    const plan = planAdmission({ ...req, selector }, facts);
    if (!plan.ok) {
      this.d.telemetry.metrics?.opsRefused.inc({ kind: req.kind });
      throw new ApiError(plan.code, plan.error, plan.field);
    }
    const admitted: Admitted[] = [];
    const refused: Refused[] = [];
    // New ops' ids are `<batch>-<plan index>`: a reply that lists only the first rows still
    // tells the caller every op it admitted.
    const batch = newOpId();
    const opIdOf = new Map(plan.plans.map((p, i) => [p.nodeId, `${batch}-${i.toString(36)}`]));
    await mapLimit(plan.plans, CONCURRENCY, async (p) => {
      if (p.action === "refuse") refused.push({ nodeId: p.nodeId, error: p.error.slice(0, 1024) });
      else if (p.action === "existing") {
        admitted.push({ nodeId: p.nodeId, opId: p.opId, existing: true, concrete: p.concrete });
      } else {
        try {
          const from = installedBefore(facts.inventories.get(p.nodeId), p.target?.name ?? req.backend);
          const r = await this.admitOne(req, p.nodeId, p.target, from, opIdOf.get(p.nodeId));
          if ("error" in r) refused.push(r);
          else admitted.push(r);
        } catch (e) {
          refused.push({ nodeId: p.nodeId, error: `not admitted: ${errorMessage(e)}`.slice(0, 1024) });
        }
      }
    });
    this.count(req.kind, [...admitted, ...refused]);
    const order = new Map(plan.plans.map((p, i) => [p.nodeId, i]));
    const byPlan = (a: { nodeId: string }, b: { nodeId: string }) =>
      order.get(a.nodeId)! - order.get(b.nodeId)!;
    return admitReply(admitted.sort(byPlan), refused.sort(byPlan), batch);
  }

  /**
   * Admit one op whose id and target the caller chose (a rollout's wave: derived ids, a build
   * pinned at the rollout's creation). The same (node, backend) slot is claimed as for any op; an
   * op already recorded under this id counts as admitted, so a leader that takes over mid-wave
   * never admits a node twice.
   */
  async admitExact(
    req: { kind: OpKind; backend: string; actor: string },
    nodeId: string,
    opId: string,
    target?: InstallTarget,
  ): Promise<Admitted | Refused> {
    if (await this.readOp(nodeId, opId)) return { nodeId, opId, existing: true, concrete: target?.name };
    // One node's inventory, not `view.inventories` (a copy of every node's): a rollout pass
    // admits hundreds of nodes, and copying 5,000 inventories for each made it O(fleet × wave).
    const inventory = this.d.view.records.inventory.get(nodeId)?.value;
    const from = installedBefore(inventory, target?.name ?? req.backend);
    const r = await this.admitOne({ ...req }, nodeId, target, from, opId);
    this.count(req.kind, [r]);
    return r;
  }

  /** New ops count as admitted; an existing op handed back again counts as neither. */
  private count(kind: OpKind, results: ReadonlyArray<Admitted | Refused>): void {
    const m = this.d.telemetry.metrics;
    if (!m) return;
    let refused = 0;
    let admitted = 0;
    for (const r of results) {
      if ("error" in r) refused++;
      else if (!r.existing) admitted++;
    }
    // Once per request: a labelled increment per node was 4 % of a 10,000-node fan-out.
    if (refused > 0) m.opsRefused.inc({ kind }, refused);
    if (admitted > 0) m.opsAdmitted.inc({ kind }, admitted);
  }

  /**
   * What admission decides from: this replica's view. Nodes it does not know are unknown when the
   * view is current (its watches have seen the buckets' latest revisions); otherwise (a watch
   * catching up after a reconnect) they are read directly: concurrently, or for many of them in
   * one pass over each bucket.
   */
  private async facts(explicit?: string[], bySelector = false): Promise<ClusterFacts> {
    const { view, client } = this.d;
    // A selector is matched against the view's nodes: give a lagging view a moment to catch up.
    if (bySelector) await view.current(["nodes", "inventory"], MIRROR_WAIT_MS);
    // O(fleet) copies, once per request (not per node): "everywhere" needs every node anyway.
    let nodes = view.nodeRecords();
    let inventories = view.inventories;
    const unseen = [...new Set(explicit ?? [])].filter((id) => !nodes.has(id) || !inventories.has(id));
    if (unseen.length > 0 && (await view.current(["nodes", "inventory"], MIRROR_WAIT_MS))) {
      // Caught up while we waited: the copies taken before the wait may still lack those nodes.
      nodes = view.nodeRecords();
      inventories = view.inventories;
    } else if (unseen.length > 0) {
      if (unseen.length > READ_CONCURRENCY) {
        // Many: one streamed pass over each bucket costs less than a read per node.
        const [ns, invs] = await Promise.all([client.list("nodes"), client.list("inventory")]);
        const want = new Set(unseen);
        for (const n of ns) if (want.has(n.key) && !nodes.has(n.key)) nodes.set(n.key, n.value);
        for (const i of invs) if (want.has(i.key) && !inventories.has(i.key)) inventories.set(i.key, i.value);
      } else {
        // A read that fails is an error, not an absent node: "unknown node" only for a missing one.
        const deadline = Date.now() + ADMIT_WAIT_MS;
        const read = <B extends "nodes" | "inventory">(b: B, id: string) =>
          whileTransient(() => client.get(b, id), deadline).catch((e: unknown) => {
            if (e instanceof MalformedRecordError) return null;
            throw e;
          });
        await mapLimit(unseen, READ_CONCURRENCY, async (id) => {
          const [n, inv] = await Promise.all([
            nodes.has(id) ? null : read("nodes", id),
            inventories.has(id) ? null : read("inventory", id),
          ]);
          if (n) nodes.set(id, n.value);
          if (inv) inventories.set(id, inv.value);
        });
      }
    }
    return {
      nodes,
      inventories,
      activeOps: view.activeOps(),
      catalog: this.d.catalog(),
      policy: view.policy,
    };
  }

  private async admitOne(
    req: AdmitRequest,
    nodeId: string,
    target: InstallTarget | undefined,
    from?: OpRecord["from"],
    opId = newOpId(),
  ): Promise<Admitted | Refused> {
    // While a stream elects a new leader (a server lost), wait for it rather than refuse the node.
    const deadline = Date.now() + ADMIT_WAIT_MS;
    const claim = await whileTransient(
      () => this.d.claims.claim(nodeId, req.backend, opId, (n, o) => this.readOp(n, o)),
      deadline,
    );
    if (!claim.won) {
      const held = claim.op;
      if (held.kind === req.kind)
        return { nodeId, opId: held.id, existing: true, concrete: held.target?.name };
      return { nodeId, error: activeConflict(held) };
    }
    const now = Date.now();
    const op: OpRecord = {
      v: SCHEMA_VERSION,
      id: opId,
      nodeId,
      kind: req.kind,
      backend: req.backend,
      target,
      ...(req.kind === "rollback" && req.generation ? { generation: req.generation } : {}),
      ...(from ? { from } : {}),
      state: "queued",
      requestedBy: req.actor,
      createdAt: now,
      updatedAt: now,
      attempts: 0,
      dismissed: false,
    };
    try {
      await whileTransient(async () => {
        try {
          await this.d.client.create("ops", opKey(nodeId, opId), op);
        } catch (e) {
          // An earlier try that timed out was written after all (the key holds this op's id).
          if (!isCasConflict(e) || !(await this.readOp(nodeId, opId))) throw e;
        }
      }, deadline);
    } catch (e) {
      await this.d.claims.release(nodeId, req.backend, opId).catch(() => {});
      throw e;
    }
    try {
      await this.d.work.publish(nodeId, opId);
    } catch (e) {
      // The op is recorded; the reaper re-publishes work for queued ops that have none.
      this.log.warn("work not published; the reaper will re-publish it", {
        opId,
        nodeId,
        error: errorMessage(e),
      });
    }
    // Names the op without a copy of its record: the record holds the facts and each later event
    // (outcome, cancel, reaping) carries it, so a 10,000-node fan-out validates and encodes each
    // op once, not twice (issue 15).
    void this.d.audit.post("op.created", {
      actor: req.actor,
      nodeId,
      opId,
      backend: req.backend,
      message: `${req.kind} queued`,
    });
    return { nodeId, opId, existing: false, concrete: target?.name };
  }

  // ------------------------------------------------------------------ reads

  async readOp(nodeId: string, opId: string): Promise<OpRecord | null> {
    return (await this.d.client.get("ops", opKey(nodeId, opId)))?.value ?? null;
  }

  /** Find an op by id alone: from the view when it knows it, else by a key filter. */
  async getOp(opId: string): Promise<{ key: string } & Entry<OpRecord>> {
    const key = this.knownKey(opId);
    if (key === undefined) return this.findOp(opId);
    const e = await this.d.client.get("ops", key);
    if (!e) throw notFound(`no operation ${opId}`, "opId");
    return { key, ...e };
  }

  private knownKey(opId: string): string | undefined {
    for (const [k, e] of this.d.view.ops) if (e.value.id === opId) return k;
    return undefined;
  }

  /** An op the view does not know yet: the key-filter read returns the record with its revision. */
  private async findOp(opId: string): Promise<{ key: string } & Entry<OpRecord>> {
    const rows = await this.d.client.list("ops", `*.${opId}`);
    const first = rows.sort((a, b) => (a.key < b.key ? -1 : 1))[0];
    if (!first) throw notFound(`no operation ${opId}`, "opId");
    return first;
  }

  /** A page of the matching ops in key order (`<nodeId>.<opId>`). */
  async list(q: ListQuery): Promise<ApiResult<"ops.list">> {
    const mirrored = await this.d.view.listed("ops", q.nodeId ? `${q.nodeId}.` : "", LIST_MIRROR_WAIT_MS);
    const rows = mirrored?.rows ?? (await this.d.client.list("ops", q.nodeId ? `${q.nodeId}.*` : ">"));
    const matching = rows
      .filter(({ value: op }) => q.all || isActive(op) || needsAttention(op))
      .filter(({ value: op }) => !q.backend || op.backend === q.backend || op.target?.name === q.backend)
      .filter(({ value: op }) => !q.kind || op.kind === q.kind)
      .map(({ key, value }) => ({ key, value }));
    const page = takePage(matching, (r) => r.key, q);
    return {
      ops: page.rows.map((r) => r.value),
      total: page.total,
      ...(page.next === undefined ? {} : { next: page.next }),
    };
  }

  // ------------------------------------------------------------------ changes

  /** Compare-and-set on one op: `change` returns the new record, null to leave it, or throws an ApiError. */
  private async change(
    opId: string,
    change: (op: OpRecord, now: number) => OpRecord | null,
  ): Promise<{ before: OpRecord; after: OpRecord; key: string }> {
    const key = this.knownKey(opId) ?? (await this.findOp(opId)).key;
    let before: OpRecord | undefined;
    const apply = (op: OpRecord) => {
      before = op;
      return change(op, Date.now());
    };
    const r = await this.d.client
      .modify("ops", key, apply, 20)
      .catch(unavailableWhenContended(`operation ${opId}`));
    if (!r || !before) throw notFound(`no operation ${opId}`, "opId");
    return { before, after: r.value, key };
  }

  /**
   * Cancel: a queued op is cancelled outright; a running one becomes `cancelling` (persisted)
   * and only then is the agent signalled. Cancelling again re-sends the signal.
   */
  async cancel(opId: string, actor: string): Promise<OpRecord> {
    const r = await this.change(opId, (op, now) => allowed(cancelOp(op, actor, now)));
    const op = r.after;
    if (op.state === "cancelling") this.signalCancel(op.nodeId, op.id);
    else void this.d.work.purge(op.nodeId, new Set([op.id])).catch(() => {});
    if (r.before.state !== op.state) {
      void this.d.audit.post("op.cancel", {
        actor,
        nodeId: op.nodeId,
        opId,
        backend: op.backend,
        message: `${r.before.state} -> ${op.state}`,
        op,
      });
    }
    return op;
  }

  signalCancel(nodeId: string, opId: string): void {
    const sig: CancelSignal = { v: SCHEMA_VERSION, opId, nodeId };
    this.d.client.publishCancel(sig);
  }

  /** Hide a finished op from the active list; it stays in history. */
  async dismiss(opId: string, actor: string): Promise<OpRecord> {
    const r = await this.change(opId, (op, now) => allowed(dismissOp(op, now)));
    if (!r.before.dismissed) {
      const op = r.after;
      void this.d.audit.post("op.dismissed", { actor, nodeId: op.nodeId, opId, backend: op.backend, op });
    }
    return r.after;
  }

  /** Re-queue a failed op with a fresh work message; refused while another op holds (node, backend). */
  async retry(opId: string, actor: string): Promise<OpRecord> {
    const cur = await this.getOp(opId);
    const early = retryOp(cur.value, Date.now()); // checked again inside the compare-and-set
    if (early.kind === "refuse") throw conflict(early.why, "opId");
    const node = (await this.d.client.get("nodes", cur.value.nodeId))?.value;
    this.assertAcceptsWork(node, cur.value.nodeId);
    const claim = await this.d.claims.claim(cur.value.nodeId, cur.value.backend, opId, (n, o) =>
      this.readOp(n, o),
    );
    if (!claim.won) {
      throw conflict(activeConflict(claim.op));
    }
    const r = await this.change(opId, (op, now) => allowed(retryOp(op, now)));
    const op = r.after;
    await this.d.work.publish(op.nodeId, op.id, `${op.id}.retry.${op.updatedAt}`);
    void this.d.audit.post("op.retried", { actor, nodeId: op.nodeId, opId, backend: op.backend, op });
    return op;
  }

  private assertAcceptsWork(node: NodeRecord | undefined, nodeId: string): void {
    if (!node) throw notFound(`unknown node ${nodeId}`);
    if (node.status === "draining" || node.status === "pending") {
      throw conflict(`node ${nodeId} is ${node.status}`);
    }
  }

  /**
   * End an active op on the reaper's behalf, `cancelled` if a cancel was asked for, else `failed`
   * (compare-and-set; a writer that got there first wins and the op is left alone if it is
   * already finished). Returns the ended record.
   */
  async end(
    key: string,
    reason: string,
    expect: (op: OpRecord) => boolean = isActive,
  ): Promise<OpRecord | null> {
    let ended: OpRecord | null = null;
    try {
      await this.d.client.modify("ops", key, (op) => {
        ended = expect(op) ? written(reapOp(op, reason, Date.now())) : null;
        return ended;
      });
    } catch (e) {
      if (!(e instanceof ContentionError)) throw e;
      return null;
    }
    return ended;
  }

  /** A drained node's queued work ends at once (and the reaper catches any straggler). */
  async dropQueued(nodeId: string, reason: string, actor: string): Promise<OpRecord[]> {
    const queued = (await this.d.client.list("ops", `${nodeId}.*`)).filter((s) => s.value.state === "queued");
    const ended: OpRecord[] = [];
    for (const s of queued) {
      const op = await this.end(s.key, reason, (o) => o.state === "queued");
      if (!op) continue;
      ended.push(op);
      void this.d.audit.post("op.reaped", {
        actor,
        nodeId,
        opId: op.id,
        backend: op.backend,
        message: reason,
        op,
      });
    }
    if (ended.length > 0) await this.d.work.purge(nodeId, new Set(ended.map((o) => o.id))).catch(() => 0);
    return ended;
  }
}
