import { isActive, needsAttention, type OpRecord, type UpgradeInfo } from "../../protocol/index.js";

export interface AutoUpgradeFacts {
  upgrades: readonly UpgradeInfo[];
  /** Every op record in the bucket. */
  ops: readonly OpRecord[];
  /** When each node last rewrote its inventory. */
  inventoryUpdatedAt: ReadonlyMap<string, number>;
}

export interface AutoUpgradeStep {
  backend: string;
  nodes: string[];
  skipped: Array<{ nodeId: string; reason: string }>;
}

/**
 * What the leader upgrades on its own: each flagged backend once, on the nodes the checker
 * flagged, except where that backend has an active op, a failed op nobody dismissed yet, or a
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
    if (step.nodes.length > 0 || step.skipped.length > 0) steps.push(step);
  }
  return steps;
}

function whySkip(ops: OpRecord[], inventoryAt: number, info: UpgradeInfo): string | undefined {
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
