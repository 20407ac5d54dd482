import type { ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import { planAutoUpgrade } from "./decide/auto-upgrade.js";
import type { LeaderDuty } from "./duties.js";
import type { Operations } from "./operations.js";
import type { SettingsStore } from "./settings-store.js";
import type { CheckOutcome, UpgradeChecker } from "./upgrade-checker.js";
import type { ClusterView } from "./view.js";

export interface AutoUpgradeDeps {
  client: ClusterClient;
  view: ClusterView;
  ops: Operations;
  settings: SettingsStore;
  checker: UpgradeChecker;
  isLeader: () => boolean;
  telemetry: Telemetry;
}

/**
 * Leader only, while `settings.autoUpgrade` is on: after every upgrade check, admits the upgrades
 * it found through the same admission path as everyone else (the check settles after that), and
 * asks for a check whenever the settings change.
 */
export class AutoUpgrade implements LeaderDuty {
  readonly name = "auto-upgrade";
  private off: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly d: AutoUpgradeDeps) {
    this.log = d.telemetry.log;
  }

  start(): void {
    if (this.off.length) return;
    this.off.push(
      this.d.checker.onChecked((o) => this.track(this.afterCheck(o))),
      this.d.view.onChange((c, initial) => {
        if (!initial && c.type === "settings" && c.value?.autoUpgrade) this.d.checker.trigger();
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => {});
    return p;
  }

  /** `o.inventories` are the ones the check read: a newer one must not hide that they lagged. */
  private async afterCheck(o: CheckOutcome): Promise<void> {
    if (!this.d.isLeader() || !this.d.settings.current().autoUpgrade) return;
    const { ops } = this.d;
    const steps = planAutoUpgrade({
      upgrades: o.upgrades,
      ops: (await this.d.client.list("ops")).map((s) => s.value),
      inventoryUpdatedAt: new Map(o.inventories.map((inv) => [inv.nodeId, inv.updatedAt])),
    });
    for (const step of steps) {
      for (const s of step.skipped)
        this.log.info("auto-upgrade skips a node", { backend: step.backend, ...s });
      if (step.nodes.length === 0 || !this.d.isLeader()) continue;
      try {
        const r = await ops.admit({
          kind: "upgrade",
          backend: step.backend,
          nodes: step.nodes,
          actor: "auto-upgrade",
        });
        this.log.info("auto-upgrade admitted", {
          backend: step.backend,
          ops: r.admitted.map((a) => a.opId),
          refused: r.refused,
        });
      } catch (e) {
        this.log.warn("auto-upgrade not admitted", { backend: step.backend, error: errorMessage(e) });
      }
    }
  }
}
