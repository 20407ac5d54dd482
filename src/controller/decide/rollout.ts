import { isMeta, type GalleryCatalog } from "../../gallery/index.js";
import {
  appendBounded,
  failureBudget,
  holdOn,
  holdText,
  isActive,
  matchesSelector,
  maxParallelOf,
  MAX_PAUSES,
  MAX_ROLLOUT_ACTIONS,
  pinAgainst,
  pinText,
  rolloutEnded,
  rolloutNodeOpId,
  rolloutNodeRevertId,
  SCHEMA_VERSION,
  waveSizes,
  nextOpen,
  outsideWindow,
  type InstallTarget,
  type Inventory,
  type MaintenanceWindow,
  type NodeOutcome,
  type NodeRecord,
  type OpRecord,
  type PinnedBuild,
  type Rollout,
  type RolloutAction,
  type RolloutCounts,
  type RolloutEventKind,
  type RolloutNode,
  type RolloutPolicy,
  type RolloutState,
  type Selector,
  type SkipReason,
  type Strategy,
} from "../../protocol/index.js";
import { installedRow, targetFromEntry } from "./admission.js";

/**
 * Rollouts, decided as pure functions: the plan (which node would go from what to what, in which
 * wave, and which are skipped and why), the records a new rollout starts from, each pass of the
 * leader over a running rollout (what to admit, cancel and revert, and the next state), and the
 * operator's pause, resume, promote, abort and dismiss. The leader's duty only applies the output.
 */

// ---------------------------------------------------------------- policy (holds and pins)

// Defined with the records they come from (src/protocol/policy.ts); the admission reads them too.
export { NO_POLICY, type Hold, type Pin, type RolloutPolicy } from "../../protocol/index.js";

// ---------------------------------------------------------------- facts

export interface RolloutFacts {
  nodes: ReadonlyMap<string, NodeRecord>;
  inventories: ReadonlyMap<string, Inventory>;
  /** Ops by op id: this rollout's (active or not) and every other active op. */
  ops: ReadonlyMap<string, OpRecord>;
  policy: RolloutPolicy;
  /** `-development`, as the catalog names it. */
  devSuffix: string;
  /**
   * The settings' maintenance window: auto-upgrade's rollouts admit only inside it. A window that
   * does not parse (`error`) admits nothing; unset: any time.
   */
  window?: MaintenanceWindow | { error: string } | null;
}

/** A row admitted or reverted with no op record after this long has lost its op. */
export const OP_VANISHED_AFTER_MS = 5 * 60_000;

// ---------------------------------------------------------------- skips

interface Skip {
  skip: SkipReason;
  why: string;
}

interface Before {
  gen?: string;
  fromVersion?: string;
  fromDigest?: string;
}

/** Texts from ops and nodes go into bounded record fields: cut, never refused. */
const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

const devNameOf = (name: string, suffix: string) => `${name}-${suffix}`;
const isDev = (name: string, suffix: string) => name.toLowerCase().endsWith(`-${suffix}`);

/** Node-level reasons not to touch a node now (its status, holds), before any build is looked at. */
function nodeSkip(
  nodeId: string,
  backend: string,
  concrete: string | undefined,
  f: RolloutFacts,
): Skip | null {
  const node = f.nodes.get(nodeId);
  if (!node) return { skip: "unknown-node", why: `node ${nodeId} is not known` };
  switch (node.status) {
    case "pending":
      return { skip: "pending", why: `node ${nodeId} is pending approval` };
    case "draining":
      return { skip: "draining", why: `node ${nodeId} is draining` };
    case "offline":
      return { skip: "offline", why: `node ${nodeId} is offline` };
    case "unhealthy": // missed heartbeats: it comes back or goes offline; admission waits for it
    case "healthy":
      break;
  }
  const hold = holdOn(f.policy, nodeId, backend, concrete);
  if (hold) return { skip: "held", why: holdText(hold) };
  const inv = f.inventories.get(nodeId);
  if (!installedRow(inv, backend))
    return { skip: "not-installed", why: `${backend} is not installed on ${nodeId}` };
  const names = new Set((inv?.backends ?? []).filter((b) => b.name === b.metadata.name).map((b) => b.name));
  const twin = [backend, concrete]
    .filter((n): n is string => !!n && !isDev(n, f.devSuffix))
    .map((n) => devNameOf(n, f.devSuffix))
    .find((d) => names.has(d));
  if (twin) return { skip: "dev-twin", why: `${twin} is installed on ${nodeId}` };
  return null;
}

/** Build-level reasons: pinned below the target, or already on it. */
function buildSkip(nodeId: string, backend: string, build: PinnedBuild, f: RolloutFacts): Skip | null {
  const node = f.nodes.get(nodeId);
  const labels = node?.last.labels ?? {};
  const t = build.target;
  const pin = pinAgainst(f.policy, backend, t, labels);
  if (pin) return { skip: "pinned", why: pinText(pin, nodeId) };
  const row = installedRow(f.inventories.get(nodeId), t.name);
  if (row) {
    const v = row.metadata.version;
    const d = row.metadata.digest;
    const sameVersion = !!t.version && v === t.version && (!build.digest || !d || d === build.digest);
    const sameDigest = !t.version && !!build.digest && d === build.digest;
    if (sameVersion || sameDigest) {
      return {
        skip: "current",
        why: `${t.name} ${t.version ?? build.digest ?? ""} is already live on ${nodeId}`.trim(),
      };
    }
  }
  return null;
}

function before(nodeId: string, concrete: string, f: RolloutFacts): Before {
  const row = installedRow(f.inventories.get(nodeId), concrete);
  if (!row) return {};
  return {
    gen: row.generation ?? undefined,
    fromVersion: row.metadata.version,
    fromDigest: row.metadata.digest,
  };
}

// ---------------------------------------------------------------- plan

export interface PlanRequest {
  backend: string;
  /** Explicit nodes; else the selector's matches among nodes that have it; else every node that has it. */
  nodes?: readonly string[];
  selector?: Selector;
  strategy: Strategy;
}

export interface PlanFacts extends RolloutFacts {
  catalog: GalleryCatalog;
  /** Manifest digests the upgrade check saw, by URI. */
  digests?: ReadonlyMap<string, string>;
}

export interface PlannedMove {
  nodeId: string;
  concrete: string;
  from: { version?: string; digest?: string; generation?: string };
  to: { version?: string; digest?: string };
}

export interface PlannedSkip {
  nodeId: string;
  skip: SkipReason;
  why: string;
}

export interface RolloutPlan {
  backend: string;
  galleryVersion?: string;
  builds: Record<string, PinnedBuild>;
  byCapability: Record<string, string>;
  targeting: Rollout["targeting"];
  strategy: Strategy;
  /** Per wave, the nodes it adds. */
  waves: PlannedMove[][];
  skipped: PlannedSkip[];
}

export type PlanResult =
  | { ok: true; plan: RolloutPlan }
  | { ok: false; code: "not_found" | "bad_request"; field?: string; error: string };

/** The dry run: changes nothing; `createRollout` turns it into records. */
export function planRollout(req: PlanRequest, f: PlanFacts): PlanResult {
  const { catalog } = f;
  const hasIt = (id: string) => !!installedRow(f.inventories.get(id), req.backend);
  let ids: string[];
  let targeting: Rollout["targeting"];
  if (req.nodes) {
    ids = [...new Set(req.nodes)];
    if (ids.length === 0) return { ok: false, code: "bad_request", field: "nodes", error: "no nodes given" };
    targeting = { kind: "nodes" };
  } else if (req.selector) {
    const sel = req.selector;
    ids = [...f.nodes.values()].filter((n) => matchesSelector(sel, n.last.labels)).map((n) => n.id);
    targeting = { kind: "selector", selector: sel.source };
  } else {
    ids = [...f.inventories.values()].map((i) => i.nodeId).filter(hasIt);
    targeting = { kind: "installed" };
  }
  ids.sort();
  if (ids.length === 0) {
    const inGallery = !!catalog.find(req.backend);
    return {
      ok: false,
      code: "not_found",
      field: req.selector ? "selector" : "backend",
      error: req.selector
        ? `no node matches the selector ${req.selector.source}`
        : inGallery
          ? `no node has ${req.backend} installed`
          : `unknown backend ${req.backend}: not in any gallery and not installed on any node`,
    };
  }

  const builds: Record<string, PinnedBuild> = {};
  const byCapability: Record<string, string> = {};
  const moves: PlannedMove[] = [];
  const skipped: PlannedSkip[] = [];
  for (const nodeId of ids) {
    const pre = nodeSkip(nodeId, req.backend, undefined, f);
    if (pre) {
      skipped.push({ nodeId, ...pre });
      continue;
    }
    const node = f.nodes.get(nodeId)!;
    const t = resolveBuild(req.backend, node, f);
    if (typeof t === "string") {
      skipped.push({ nodeId, skip: "no-build", why: t });
      continue;
    }
    const build: PinnedBuild = builds[t.target.name] ?? {
      target: t.target,
      digest: f.digests?.get(t.target.uri),
    };
    const twin = nodeSkip(nodeId, req.backend, t.target.name, f) ?? buildSkip(nodeId, req.backend, build, f);
    if (twin) {
      skipped.push({ nodeId, ...twin });
      continue;
    }
    builds[t.target.name] = build;
    if (t.viaMeta) byCapability[node.last.capability] = t.target.name;
    const b = before(nodeId, t.target.name, f);
    moves.push({
      nodeId,
      concrete: t.target.name,
      from: { version: b.fromVersion, digest: b.fromDigest, generation: b.gen },
      to: { version: build.target.version, digest: build.digest },
    });
  }
  const sizes = waveSizes(req.strategy.waves, moves.length);
  const waves = sizes.map((end, w) => moves.slice(w === 0 ? 0 : sizes[w - 1], end));
  const versions = [...new Set(Object.values(builds).map((b) => b.target.version))];
  return {
    ok: true,
    plan: {
      backend: req.backend,
      galleryVersion: versions.length === 1 ? versions[0] : undefined,
      builds,
      byCapability,
      targeting,
      strategy: req.strategy,
      waves,
      skipped: skipped.map((x) => ({ ...x, why: clip(x.why, 1000) })),
    },
  };
}

/** The build a node gets, as admission resolves an upgrade: its installed concrete's entry, or the meta per capability. */
function resolveBuild(
  backend: string,
  node: NodeRecord,
  f: PlanFacts,
): { target: InstallTarget; viaMeta: boolean } | string {
  const row = installedRow(f.inventories.get(node.id), backend)!;
  if (!row.isMeta) {
    const entry = f.catalog.find(row.metadata.name);
    if (!entry) return `${row.metadata.name} is not in any gallery`;
    if (isMeta(entry) || !entry.uri) return `${entry.name} has no build of its own in the gallery`;
    return { target: targetFromEntry(entry), viaMeta: false };
  }
  const r = f.catalog.resolve(backend, node.last.capability);
  if (!r.ok) return `no build of ${backend} for ${node.last.capability} (${r.error})`;
  return { target: targetFromEntry(r.concrete, r.meta?.name), viaMeta: true };
}

/** The records a rollout starts from: its head (state `planned`) and one row per targeted node. */
export function createRollout(
  plan: RolloutPlan,
  id: string,
  actor: string,
  now: number,
  origin: "operator" | "auto-upgrade" = "operator",
): { rollout: Rollout; rows: RolloutNode[] } {
  const rows: RolloutNode[] = [];
  let i = 0;
  plan.waves.forEach((moves, w) => {
    for (const m of moves) {
      rows.push({
        v: SCHEMA_VERSION,
        rollout: id,
        node: m.nodeId,
        i: i++,
        w,
        o: "wait",
        c: m.concrete,
        gen: m.from.generation,
        fromVersion: m.from.version,
        fromDigest: m.from.digest,
        at: now,
      });
    }
  });
  const eligible = rows.length;
  for (const s of plan.skipped) {
    rows.push({
      v: SCHEMA_VERSION,
      rollout: id,
      node: s.nodeId,
      i: i++,
      w: -1,
      o: "skip",
      skip: s.skip,
      why: s.why,
      at: now,
    });
  }
  const rollout: Rollout = {
    v: SCHEMA_VERSION,
    id,
    backend: plan.backend,
    galleryVersion: plan.galleryVersion,
    builds: plan.builds,
    byCapability: plan.byCapability,
    targeting: plan.targeting,
    total: rows.length,
    eligible,
    waves: waveSizes(plan.strategy.waves, eligible),
    strategy: plan.strategy,
    state: "planned",
    wave: 0,
    forgiven: 0,
    pauses: [],
    actions: [{ at: now, by: actor, what: "created" }],
    counts: countRows(rows),
    origin,
    dismissed: false,
    createdAt: now,
    createdBy: actor,
    updatedAt: now,
  };
  return { rollout, rows };
}

// ---------------------------------------------------------------- one pass

export interface AdmitOrder {
  nodeId: string;
  opId: string;
  /** The name asked for (the rollout's backend) and the pinned build. */
  backend: string;
  target: InstallTarget;
}

export interface RevertOrder {
  nodeId: string;
  opId: string;
  /** The concrete to roll back (a meta pointer has no generations). */
  backend: string;
}

export interface RolloutEvent {
  kind: RolloutEventKind;
  message: string;
  wave?: number;
  nodeId?: string;
}

export interface RolloutPass {
  /** The head to write, or null when unchanged. */
  rollout: Rollout | null;
  /** Rows whose record changed. */
  rows: RolloutNode[];
  admit: AdmitOrder[];
  cancel: Array<{ nodeId: string; opId: string }>;
  revert: RevertOrder[];
  events: RolloutEvent[];
}

const FAILED: readonly NodeOutcome[] = ["fail", "cancel"];
const SETTLED: readonly NodeOutcome[] = ["ok", "fail", "cancel", "skip", "reverted", "revert-fail"];

export function countRows(rows: readonly RolloutNode[]): RolloutCounts {
  const c: RolloutCounts = { waiting: 0, running: 0, done: 0, failed: 0, skipped: 0, reverted: 0 };
  for (const r of rows) {
    if (r.o === "wait") c.waiting++;
    else if (r.o === "run" || r.o === "revert") c.running++;
    else if (r.o === "ok") c.done++;
    else if (r.o === "skip") c.skipped++;
    else if (r.o === "reverted") c.reverted++;
    else c.failed++;
  }
  return c;
}

/** The failures of a failed gate, each with why (the first five), for the audit trail. */
const whyFailed = (rows: readonly RolloutNode[]): string =>
  clip(
    rows
      .slice(0, 5)
      .map((r) => `${r.node}: ${r.why ?? `its op ended ${r.o}`}`)
      .join("; ") + (rows.length > 5 ? `; and ${rows.length - 5} more` : ""),
    3000,
  );

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;
const listNodes = (rows: readonly RolloutNode[]) =>
  rows.length <= 5
    ? rows.map((r) => r.node).join(", ")
    : `${rows
        .slice(0, 5)
        .map((r) => r.node)
        .join(", ")} and ${rows.length - 5} more`;

/**
 * One pass of the leader over one rollout: rows follow their ops; the soak checks node health;
 * the failure budget pauses (or aborts); a wave that passed its gate makes way for the next; and
 * free slots, up to `maxParallel`, admit the current wave's waiting nodes in order.
 */
export function decideRollout(
  r0: Rollout,
  rows0: readonly RolloutNode[],
  f: RolloutFacts,
  now: number,
  actor = "rollouts",
): RolloutPass {
  const out: RolloutPass = { rollout: null, rows: [], admit: [], cancel: [], revert: [], events: [] };
  if (rolloutEnded(r0.state)) return out;
  const r: Rollout = { ...r0 };
  const rows = rows0.map((x) => ({ ...x })).sort((a, b) => a.i - b.i);
  const changed = new Set<number>();
  const set = (row: RolloutNode, patch: Partial<RolloutNode>) => {
    Object.assign(row, patch, { at: now }, patch.why ? { why: clip(patch.why, 1000) } : {});
    changed.add(row.i);
  };
  const act = (what: RolloutAction["what"], note?: string, wave?: number) => {
    const n = note === undefined ? undefined : clip(note, 500);
    r.actions = appendBounded(r.actions, { at: now, by: actor, what, wave, note: n }, MAX_ROLLOUT_ACTIONS);
  };
  const emit = (kind: RolloutEventKind, message: string, extra: Partial<RolloutEvent> = {}) =>
    out.events.push({ kind, message, ...extra });
  const lastWave = r.waves.length - 1;

  if (r.state === "planned") {
    r.state = "running";
    r.waveStartedAt = now;
    act("started", undefined, 0);
    emit(
      "rollout.started",
      `rollout of ${r.backend} started: ${plural(r.eligible, "node")} in ${plural(r.waves.length, "wave")}`,
    );
    if (r.waves.length > 0) emit("rollout.wave", `wave 1 of ${r.waves.length} started`, { wave: 0 });
  }

  // Rows follow their ops. An op the view does not show yet is given time to appear.
  for (const row of rows) {
    if (row.o === "wait" || row.o === "run") {
      const op = f.ops.get(rolloutNodeOpId(row));
      if (op) {
        if (isActive(op)) {
          if (row.o !== "run") set(row, { o: "run" });
        } else if (op.state === "succeeded") set(row, { o: "ok", why: undefined });
        else
          set(row, {
            o: op.state === "failed" ? "fail" : "cancel",
            why: op.error ?? `its op was ${op.state}`,
          });
      } else if (row.o === "run" && now - row.at > OP_VANISHED_AFTER_MS) {
        set(row, { o: "fail", why: "its op record is gone" });
      }
    } else if (row.o === "revert") {
      const op = f.ops.get(rolloutNodeRevertId(row));
      if (op && !isActive(op)) {
        if (op.state === "succeeded") {
          set(row, { o: "reverted", why: undefined });
          emit("rollout.node.reverted", `${row.node} is back on ${row.gen ?? "its previous generation"}`, {
            nodeId: row.node,
          });
        } else set(row, { o: "revert-fail", why: `revert ${op.state}: ${op.error ?? ""}`.trim() });
      } else if (!op && now - row.at > OP_VANISHED_AFTER_MS) {
        set(row, { o: "revert-fail", why: "its revert op record is gone" });
      }
    }
  }

  const inWave = (w: number) => rows.filter((x) => x.w === w);

  if (r.state === "running" || r.state === "paused") {
    // The soak: every node a finished wave moved must stay healthy.
    const wave = inWave(r.wave);
    const finished = r.waves.length === 0 || wave.every((x) => SETTLED.includes(x.o));
    if (finished && r.waves.length > 0) {
      if (r.soakStartedAt === undefined) r.soakStartedAt = now;
      for (const row of wave) {
        if (row.o !== "ok") continue;
        const status = f.nodes.get(row.node)?.status ?? "unknown";
        if (status !== "healthy" && status !== "draining") {
          set(row, { o: "fail", why: `${status} during the soak after its upgrade` });
        }
      }
    }

    // The failure budget.
    const failed = rows.filter((x) => FAILED.includes(x.o));
    const used = failed.length - r.forgiven;
    const budget = failureBudget(r.strategy, r.wave, r.eligible);
    const overBudget = used > budget;
    if (overBudget) {
      const reason = `failure budget exceeded in wave ${r.wave + 1}: ${plural(used, "node")} failed (budget ${budget}): ${listNodes(failed)}`;
      if (r.strategy.autoRevert) {
        r.state = "aborting";
        r.reason = reason;
        act("aborted", reason, r.wave);
        emit("rollout.gate.failed", `${reason}; ${whyFailed(failed)}`, { wave: r.wave });
        emit("rollout.aborted", `aborting and reverting: ${reason}`, { wave: r.wave });
      } else if (r.state === "running") {
        r.state = "paused";
        r.reason = reason;
        r.pauses = appendBounded(r.pauses, { at: now, by: actor, reason: clip(reason, 500) }, MAX_PAUSES);
        act("paused", reason, r.wave);
        emit("rollout.gate.failed", `${reason}; ${whyFailed(failed)}`, { wave: r.wave });
        emit("rollout.paused", `paused: ${reason}`, { wave: r.wave });
      }
    }

    // The gate, once the wave has finished and its soak held (or it was promoted).
    const soakOver = r.soakStartedAt !== undefined && now >= r.soakStartedAt + r.strategy.soakMs;
    const promoted = r.promotedWave === r.wave;
    if (r.state === "running" && finished && !overBudget && (soakOver || promoted || r.waves.length === 0)) {
      if (r.waves.length > 0) {
        emit("rollout.gate.passed", `wave ${r.wave + 1} of ${r.waves.length} passed its gate`, {
          wave: r.wave,
        });
        act("gate", undefined, r.wave);
      }
      if (r.wave >= lastWave) {
        const c = countRows(rows);
        r.state = "succeeded";
        r.endedAt = now;
        r.reason =
          r.waves.length === 0
            ? "no node to upgrade"
            : `${plural(c.done, "node")} upgraded` +
              (c.failed ? `, ${c.failed} failed` : "") +
              (c.skipped ? `, ${c.skipped} skipped` : "");
        act("ended", r.reason);
        emit("rollout.ended", `rollout of ${r.backend} succeeded: ${r.reason}`);
      } else if (r.strategy.autoPromote || promoted) {
        r.wave += 1;
        r.waveStartedAt = now;
        r.soakStartedAt = undefined;
        act("wave", undefined, r.wave);
        emit("rollout.wave", `wave ${r.wave + 1} of ${r.waves.length} started`, { wave: r.wave });
      } else {
        const reason = `wave ${r.wave + 1} passed its gate; promote to start wave ${r.wave + 2}`;
        r.state = "paused";
        r.reason = reason;
        r.pauses = appendBounded(r.pauses, { at: now, by: actor, reason: clip(reason, 500) }, MAX_PAUSES);
        act("paused", reason, r.wave);
        emit("rollout.paused", reason, { wave: r.wave });
      }
    }

    // Admission: the current wave's waiting nodes, in order, into the free slots; auto-upgrade's
    // rollouts only inside the maintenance window (ops already admitted run on).
    if (r.state === "running") {
      const closed = r.origin === "auto-upgrade" ? windowClosed(f.window, now) : null;
      if (closed) {
        if (r.windowOpensAt !== closed.opensAt || r.reason !== closed.reason) {
          r.windowOpensAt = closed.opensAt;
          r.reason = closed.reason;
        }
      } else {
        if (r.windowOpensAt !== undefined || r.reason?.startsWith(WINDOW_REASON)) {
          r.windowOpensAt = undefined;
          r.reason = undefined;
        }
        admitWave(r, rows, f, set, out);
      }
    }
  }

  if (r.state === "aborting") {
    for (const row of rows) {
      if (row.o === "run") {
        const op = f.ops.get(rolloutNodeOpId(row));
        if (op && (op.state === "queued" || op.state === "running"))
          out.cancel.push({ nodeId: row.node, opId: op.id });
      } else if (row.o === "ok") {
        const revertId = rolloutNodeRevertId(row);
        const existing = f.ops.get(revertId);
        set(row, { o: "revert" });
        if (!existing) out.revert.push({ nodeId: row.node, opId: revertId, backend: row.c ?? r.backend });
      }
    }
    if (!rows.some((x) => x.o === "run" || x.o === "revert")) {
      const bad = rows.filter((x) => x.o === "revert-fail");
      const reverted = rows.filter((x) => x.o === "reverted").length;
      r.state = "aborted";
      r.endedAt = now;
      const why = r.reason ? `${r.reason}; ` : "";
      r.reason =
        `${why}${plural(reverted, "node")} reverted` +
        (bad.length ? `; revert failed on ${listNodes(bad)}` : "");
      act("ended", r.reason);
      emit("rollout.ended", `rollout of ${r.backend} aborted: ${r.reason}`);
    }
  }

  if (r.reason !== undefined) r.reason = clip(r.reason, 1000);
  out.rows = rows.filter((x) => changed.has(x.i));
  const counts = countRows(rows);
  if (JSON.stringify(counts) !== JSON.stringify(r.counts)) r.counts = counts;
  if (JSON.stringify(r) !== JSON.stringify(r0)) out.rollout = { ...r, updatedAt: now };
  return out;
}

const WINDOW_REASON = "outside maintenance window";

/** Why the window admits nothing at `now` (and when it opens), or null when it admits. */
function windowClosed(
  w: RolloutFacts["window"],
  now: number,
): { reason: string; opensAt: number | undefined } | null {
  if (!w) return null;
  if ("error" in w) return { reason: `${WINDOW_REASON}: ${w.error}`, opensAt: undefined };
  const reason = outsideWindow(w, now);
  if (reason === null) return null;
  const at = nextOpen(w, now);
  return { reason, opensAt: at ?? undefined };
}

function admitWave(
  r: Rollout,
  rows: RolloutNode[],
  f: RolloutFacts,
  set: (row: RolloutNode, patch: Partial<RolloutNode>) => void,
  out: RolloutPass,
): void {
  let slots = maxParallelOf(r.strategy, r.eligible) - rows.filter((x) => x.o === "run").length;
  const busy = activeByNode(f.ops);
  for (const row of rows) {
    if (slots <= 0) break;
    if (row.w !== r.wave || row.o !== "wait") continue;
    if (f.nodes.get(row.node)?.status === "unhealthy") continue;
    const build = row.c ? r.builds[row.c] : undefined;
    const skip: Skip | null =
      nodeSkip(row.node, r.backend, row.c, f) ??
      (build
        ? buildSkip(row.node, r.backend, build, f)
        : { skip: "no-build", why: `no pinned build for ${row.node}` });
    if (skip) {
      set(row, { o: "skip", ...skip });
      continue;
    }
    // Another op on this (node, backend) goes first; the node waits for it.
    const other = (busy.get(row.node) ?? []).find(
      (op) => op.backend === r.backend || op.backend === row.c || op.target?.name === row.c,
    );
    if (other) continue;
    set(row, { o: "run", ...before(row.node, row.c!, f) });
    out.admit.push({
      nodeId: row.node,
      opId: rolloutNodeOpId(row),
      backend: r.backend,
      target: build!.target,
    });
    slots--;
  }
}

function activeByNode(ops: ReadonlyMap<string, OpRecord>): Map<string, OpRecord[]> {
  const m = new Map<string, OpRecord[]>();
  for (const op of ops.values()) {
    if (!isActive(op)) continue;
    const list = m.get(op.nodeId) ?? [];
    list.push(op);
    m.set(op.nodeId, list);
  }
  return m;
}

// ---------------------------------------------------------------- operator actions

export type RolloutStep =
  { kind: "write"; rollout: Rollout; event: RolloutEvent } | { kind: "refuse"; why: string };

const refuse = (why: string): RolloutStep => ({ kind: "refuse", why });

function withAction(
  r: Rollout,
  now: number,
  by: string,
  what: RolloutAction["what"],
  note?: string,
): Rollout {
  return {
    ...r,
    updatedAt: now,
    actions: appendBounded(r.actions, { at: now, by, what, wave: r.wave, note }, MAX_ROLLOUT_ACTIONS),
  };
}

const ACTIVE_STATES: readonly RolloutState[] = ["planned", "running", "paused"];

/** Pause: admit nothing more (ops in flight finish). */
export function pauseRollout(r: Rollout, actor: string, now: number, reason?: string): RolloutStep {
  if (r.state !== "running" && r.state !== "planned")
    return refuse(`rollout ${r.id} is ${r.state}; only a running rollout can be paused`);
  const why = reason?.trim() || `paused by ${actor}`;
  return {
    kind: "write",
    rollout: {
      ...withAction(r, now, actor, "paused", why),
      state: "paused",
      reason: why,
      pauses: appendBounded(r.pauses, { at: now, by: actor, reason: why }, MAX_PAUSES),
    },
    event: {
      kind: "rollout.paused",
      message: `${actor} paused the rollout of ${r.backend}: ${why}`,
      wave: r.wave,
    },
  };
}

/** Resume: admit again; failures so far are accepted (the budget counts the ones after). */
export function resumeRollout(
  r: Rollout,
  rows: readonly RolloutNode[],
  actor: string,
  now: number,
): RolloutStep {
  if (r.state !== "paused")
    return refuse(`rollout ${r.id} is ${r.state}; only a paused rollout can be resumed`);
  const failed = rows.filter((x) => FAILED.includes(x.o)).length;
  return {
    kind: "write",
    rollout: {
      ...withAction(r, now, actor, "resumed"),
      state: "running",
      reason: undefined,
      forgiven: failed,
    },
    event: { kind: "rollout.resumed", message: `${actor} resumed the rollout of ${r.backend}`, wave: r.wave },
  };
}

/** Promote: the current wave's gate skips its soak (a paused rollout resumes). */
export function promoteRollout(
  r: Rollout,
  rows: readonly RolloutNode[],
  actor: string,
  now: number,
): RolloutStep {
  if (r.state !== "running" && r.state !== "paused")
    return refuse(`rollout ${r.id} is ${r.state}; only a running or paused rollout can be promoted`);
  if (r.wave >= r.waves.length - 1)
    return refuse(`rollout ${r.id} is in its last wave; there is no next wave to promote to`);
  const failed = rows.filter((x) => FAILED.includes(x.o)).length;
  return {
    kind: "write",
    rollout: {
      ...withAction(r, now, actor, "promoted"),
      state: "running",
      reason: undefined,
      promotedWave: r.wave,
      forgiven: r.state === "paused" ? failed : r.forgiven,
    },
    event: {
      kind: "rollout.promoted",
      message: `${actor} promoted wave ${r.wave + 1} of ${r.backend}`,
      wave: r.wave,
    },
  };
}

/** Abort: cancel what runs and revert every node this rollout moved (the leader's passes do it). */
export function abortRollout(r: Rollout, actor: string, now: number): RolloutStep {
  if (r.state === "aborting") return refuse(`rollout ${r.id} is already aborting`);
  if (!ACTIVE_STATES.includes(r.state)) return refuse(`rollout ${r.id} is ${r.state}; it cannot be aborted`);
  const reason = `aborted by ${actor}`;
  return {
    kind: "write",
    rollout: { ...withAction(r, now, actor, "aborted"), state: "aborting", reason },
    event: { kind: "rollout.aborted", message: `${actor} aborted the rollout of ${r.backend}`, wave: r.wave },
  };
}

/** Dismiss: a failed or aborted rollout stops holding its target back from auto-upgrade. */
export function dismissRollout(r: Rollout, actor: string, now: number): RolloutStep {
  if (!rolloutEnded(r.state))
    return refuse(`rollout ${r.id} is ${r.state}; only an ended rollout can be dismissed`);
  if (r.dismissed) return refuse(`rollout ${r.id} is already dismissed`);
  return {
    kind: "write",
    rollout: { ...withAction(r, now, actor, "dismissed"), dismissed: true },
    event: { kind: "rollout.ended", message: `${actor} dismissed the rollout of ${r.backend}` },
  };
}
