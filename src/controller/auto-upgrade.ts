import type { ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import { planAutoUpgrade } from "./decide/auto-upgrade.js";
import type { LeaderDuty } from "./duties.js";
import type { Rollouts } from "./rollouts.js";
import type { SettingsStore } from "./settings-store.js";
import type { CheckOutcome, UpgradeChecker } from "./upgrade-checker.js";
import type { ClusterView } from "./view.js";

export interface AutoUpgradeDeps {
  client: ClusterClient;
  view: ClusterView;
  rollouts: Rollouts;
  settings: SettingsStore;
  checker: UpgradeChecker;
  isLeader: () => boolean;
  telemetry: Telemetry;
}

/**
 * Leader only, while `settings.autoUpgrade` is on: after every upgrade check, starts one rollout
 * per backend it found an upgrade for, with the settings' default strategy (its ops are admitted
 * by the rollout duty, inside the maintenance window), and asks for a check whenever the settings
 * change.
 */
export class AutoUpgrade implements LeaderDuty {
  readonly name = "auto-upgrade";
  private off: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly d: AutoUpgradeDeps) {
    this.log = d.telemetry.log;
  }

  start(): void {
    if (this.off.length) return;
    this.off.push(
      this.d.checker.onChecked((o) => this.track(this.serially(o))),
      this.d.view.onChange((c, initial) => {
        if (!initial && c.type === "settings" && c.value?.autoUpgrade) this.d.checker.trigger();
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * One check's decision at a time: each reads the rollouts the one before started, so two
   * checks close together never start two rollouts of one backend.
   */
  private serially(o: CheckOutcome): Promise<void> {
    const next = this.last.catch(() => {}).then(() => this.afterCheck(o));
    this.last = next;
    return next;
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  /** `o.inventories` are the ones the check read: a newer one must not hide that they lagged. */
  private async afterCheck(o: CheckOutcome): Promise<void> {
    // A check begun before auto-upgrade was switched on read the fleet as it was then (a node
    // that joined since is missing); switching it on asks for a check of its own, which decides.
    if (!o.autoUpgradeAtStart) return;
    if (!this.d.isLeader() || !(await this.d.settings.get()).autoUpgrade) return;
    const { client } = this.d;
    // From the buckets, not the view: the rollout the last check started must be seen.
    const [ops, rollouts] = await Promise.all([client.list("ops"), client.list("rollouts")]);
    const steps = planAutoUpgrade({
      upgrades: o.upgrades,
      ops: ops.map((s) => s.value),
      inventoryUpdatedAt: new Map(o.inventories.map((inv) => [inv.nodeId, inv.updatedAt])),
      rollouts: rollouts.map((s) => s.value),
    });
    for (const step of steps) {
      for (const s of step.skipped)
        this.log.info("auto-upgrade skips a node", { backend: step.backend, ...s });
      if (step.blocked) this.log.info("auto-upgrade waits", { backend: step.backend, why: step.blocked });
      if (step.nodes.length === 0 || !this.d.isLeader()) continue;
      try {
        const r = await this.d.rollouts.startAuto(step.backend, step.nodes, o.digests);
        if ("rollout" in r)
          this.log.info("auto-upgrade started a rollout", {
            backend: step.backend,
            rollout: r.rollout.id,
            nodes: r.rollout.eligible,
          });
        else
          this.log.info("auto-upgrade: every flagged node is skipped", {
            backend: step.backend,
            skipped: r.skipped,
          });
      } catch (e) {
        this.log.warn("auto-upgrade rollout not started", { backend: step.backend, error: errorMessage(e) });
      }
    }
  }
}
