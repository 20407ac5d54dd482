import {
  isActive,
  needsAttention,
  rolloutEnded,
  type OpRecord,
  type Rollout,
  type UpgradeFindings,
  type UpgradeInfo,
} from "../../protocol/index.js";

export interface AutoUpgradeFacts {
  upgrades: readonly UpgradeFindings[];
  /** Every op record in the bucket. */
  ops: readonly OpRecord[];
  /** When each node last rewrote its inventory. */
  inventoryUpdatedAt: ReadonlyMap<string, number>;
  /** Every rollout head in the bucket (ended ones too). */
  rollouts: readonly Rollout[];
}

export interface AutoUpgradeStep {
  backend: string;
  /** The nodes to start a rollout over; empty when none or when `blocked`. */
  nodes: string[];
  skipped: Array<{ nodeId: string; reason: string }>;
  /** Why no rollout starts for this backend now (a rollout holds it). */
  blocked?: string;
}

/**
 * What the leader upgrades on its own: one rollout per flagged backend, over the nodes the
 * checker flagged. None while a rollout of that backend (auto-upgrade's or an operator's) has
 * not ended, nor while a failed or aborted one for the same target is not dismissed. Nodes are
 * left out where that backend has an active op, a failed op nobody dismissed yet, or a
 * successful op the node's inventory does not reflect yet (so a lagging inventory cannot make
 * the same upgrade run twice).
 */
export function planAutoUpgrade(facts: AutoUpgradeFacts): AutoUpgradeStep[] {
  const steps: AutoUpgradeStep[] = [];
  for (const info of facts.upgrades) {
    const step: AutoUpgradeStep = { backend: info.backend, nodes: [], skipped: [] };
    for (const n of info.nodes) {
      if (!n.upgradable) continue;
      const concrete = n.concrete ?? info.backend;
      const mine = facts.ops.filter(
        (op) =>
          op.nodeId === n.nodeId &&
          (op.backend === info.backend || op.backend === concrete || op.target?.name === concrete),
      );
      const reason = whySkip(mine, facts.inventoryUpdatedAt.get(n.nodeId) ?? 0, info);
      if (reason) step.skipped.push({ nodeId: n.nodeId, reason });
      else step.nodes.push(n.nodeId);
    }
    if (step.nodes.length === 0 && step.skipped.length === 0) continue;
    const blocked = whyBlocked(info, facts.rollouts);
    if (blocked && step.nodes.length > 0) {
      step.blocked = blocked;
      step.nodes = [];
    }
    steps.push(step);
  }
  return steps;
}

/** The names a rollout of this upgrade touches: the row's name and the concretes under it. */
function namesOf(info: UpgradeFindings): Set<string> {
  return new Set([info.backend, ...info.nodes.flatMap((n) => (n.concrete ? [n.concrete] : []))]);
}

function whyBlocked(info: UpgradeFindings, rollouts: readonly Rollout[]): string | undefined {
  const names = namesOf(info);
  const related = rollouts
    .filter((r) => names.has(r.backend) || Object.keys(r.builds).some((b) => names.has(b)))
    .sort((a, b) => b.createdAt - a.createdAt);
  const active = related.find((r) => !rolloutEnded(r.state));
  if (active) return `rollout ${active.id} of ${active.backend} is ${active.state}`;
  const failed = related.find((r) => r.state !== "succeeded" && !r.dismissed && sameTarget(r, info));
  if (failed) {
    return `rollout ${failed.id} of ${failed.backend} to the same target ${failed.state === "aborted" ? "was aborted" : "failed"}; dismiss it to let auto-upgrade try again`;
  }
  return undefined;
}

/**
 * Whether a rollout took the same target as the upgrade now offered: by digest when both know
 * one (a rebuilt image under the same version is a new target), else by version; when neither
 * can tell, it counts as the same, so an unknown never retries a failure by itself.
 */
export function sameTarget(r: Rollout, info: UpgradeInfo): boolean {
  const digests = Object.values(r.builds).flatMap((b) => (b.digest ? [b.digest] : []));
  if (info.availableDigest && digests.length > 0) return digests.includes(info.availableDigest);
  const versions = Object.values(r.builds).flatMap((b) => (b.target.version ? [b.target.version] : []));
  if (info.availableVersion && versions.length > 0) return versions.includes(info.availableVersion);
  return true;
}

function whySkip(ops: OpRecord[], inventoryAt: number, info: UpgradeFindings): string | undefined {
  const active = ops.find(isActive);
  if (active) return `${active.kind} ${active.id} is ${active.state}`;
  const failed = ops.find(needsAttention);
  if (failed) return `${failed.kind} ${failed.id} failed and is not dismissed`;
  // An op that already installed the available build, newer than the inventory the check read:
  // the flag is the inventory lagging behind, not a new upgrade.
  const unseen = ops.find(
    (op) =>
      op.state === "succeeded" &&
      op.kind !== "delete" &&
      (op.finishedAt ?? op.updatedAt) > inventoryAt &&
      ((!!op.result?.digest && op.result.digest === info.availableDigest) ||
        (!!op.result?.version && op.result.version === info.availableVersion)),
  );
  if (unseen) return `${unseen.kind} ${unseen.id} already installed it; the node's inventory lags`;
  return undefined;
}
