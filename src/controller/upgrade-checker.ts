import { createHash } from "node:crypto";
import type { ClusterClient } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { Periodic } from "../lib/periodic.js";
import { SingleFlight } from "../lib/single-flight.js";
import type { GalleryCatalog } from "../gallery/index.js";
import type { RegistryClient } from "../oci/index.js";
import {
  ApiEnvelope,
  api,
  CHECKS_KEY,
  SCHEMA_VERSION,
  decode,
  encode,
  validate,
  type ApiResult,
  type Inventory,
  type NodeUpgrades,
  type UpgradeFindings,
  type UpgradeInfo,
} from "../protocol/index.js";
import type { Audit } from "./audit.js";
import type { LeaderDuty } from "./duties.js";
import { computeUpgrades, findingsByNode, planUpgradeCheck, summaryOf } from "./decide/upgrades.js";
import { mapLimit } from "./map-limit.js";
import { DigestRound } from "./digest-resolver.js";
import type { ControllerTelemetry } from "./metrics.js";
import type { SettingsStore } from "./settings-store.js";
import type { ClusterView } from "./view.js";

export type CheckResult = ApiResult<"upgrades.check">;

export interface CheckerDeps {
  client: ClusterClient;
  view: ClusterView;
  catalog: () => GalleryCatalog;
  registry: RegistryClient;
  audit: Audit;
  settings: SettingsStore;
  isLeader: () => boolean;
  /** Fixed period; undefined follows `settings.upgradeCheckIntervalSec`. */
  intervalMs?: number;
  debounceMs: number;
  /** Re-read the galleries; an on-demand check ("check now") looks at the newest gallery. */
  refreshCatalog?: () => Promise<unknown>;
  /** How long a non-leader waits for the leader's answer to an on-demand check. */
  forwardTimeoutMs: number;
  telemetry: ControllerTelemetry;
}

/** What a check found, for whoever acts on it (auto-upgrade). */
export interface CheckOutcome {
  upgrades: UpgradeFindings[];
  /** The inventories the check read. */
  inventories: readonly Inventory[];
  /** The manifest digest each image URI had, where the registry answered. */
  digests: ReadonlyMap<string, string>;
  /** Whether auto-upgrade was on in the settings the view had when the check began. */
  autoUpgradeAtStart: boolean;
}

const KV_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * A short digest of a value's JSON, to tell whether it changed: kept per node, where the JSON
 * itself (an inventory's is ~9 KB at 30 backends) would hold ~90 MB at 10,000 nodes.
 */
function fingerprint(value: unknown): string {
  return createHash("sha1").update(JSON.stringify(value)).digest("base64");
}

/** How long a check waits for the mirror to catch up before it reads the inventories from KV. */
const MIRROR_WAIT_MS = 2_000;
/** KV writes of one round in flight at once. */
const WRITE_CONCURRENCY = 64;

/**
 * The upgrade checker. The leader runs it when it takes over, every interval, after every
 * successful op or inventory change (debounced), and on demand; a replica that is not the
 * leader forwards on-demand checks to it and runs the check itself only when no leader answers.
 * What a check found goes to `onChecked` listeners (auto-upgrade) before the check settles.
 */
export class UpgradeChecker implements LeaderDuty {
  readonly name = "upgrade-checker";
  /** One check at a time: a request while a check runs gets the next check, which starts after it. */
  private readonly checks = new SingleFlight((actor: string) =>
    this.exec(actor, false).finally(() => this.periodic.restart()),
  );
  /** The periodic check, counted from the end of the last check, whatever asked for it. */
  private readonly periodic: Periodic;
  private debounce?: NodeJS.Timeout;
  private active = false;
  private unsubscribe: Array<() => void> = [];
  private readonly listeners = new Set<(o: CheckOutcome) => Promise<void>>();
  private readonly indexCache = new Map<string, string[]>();
  /** Each node's installed backends as last seen (their fingerprint), by node. */
  private readonly fingerprints = new Map<string, string>();
  /**
   * What this leader last wrote to `upgrade_nodes`, by node (the rows' fingerprint), so a round
   * writes only the nodes whose rows changed. Null until this leader's first round, which
   * writes them all and deletes keys it did not find.
   */
  private written: Map<string, string> | null = null;
  private readonly log: Logger;

  constructor(private readonly d: CheckerDeps) {
    this.log = d.telemetry.log;
    this.periodic = new Periodic({
      intervalMs: () => this.intervalMs(),
      run: (why) => this.run(why === "start" ? "leader" : "schedule"),
    });
  }

  private get forwardSubject(): string {
    return this.d.client.subjects.leader("upgrades.check");
  }

  /** Called with every check's findings, awaited before the check settles. */
  onChecked(listener: (o: CheckOutcome) => Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    // Another replica may have led meanwhile: what is in the bucket is unknown again.
    this.written = null;
    const unsubscribe = this.d.client.serve(this.forwardSubject, (msg) => {
      const d = decode(api["upgrades.check"].req, msg.data);
      const actor = (d.ok && d.value.actor) || "api";
      this.onDemand(actor).then(
        (data) => msg.respond?.(encode({ ok: true, data })),
        (e) => msg.respond?.(encode({ ok: false, error: { code: "internal", message: errorMessage(e) } })),
      );
    });
    // O(fleet), once per leadership: the baseline each inventory change is compared with.
    for (const [k, e] of this.d.view.records.inventory)
      this.fingerprints.set(k, fingerprint(e.value.backends));
    this.unsubscribe.push(
      unsubscribe,
      this.d.view.onChange((c, initial) => {
        if (initial) return;
        if (c.type === "op" && c.value?.state === "succeeded" && c.prev?.state !== "succeeded")
          this.trigger();
        else if (c.type === "inventory" && this.inventoryChanged(c.key, c.value)) this.trigger();
        else if (c.type === "settings") this.periodic.restart();
      }),
    );
    this.periodic.start({ now: true });
  }

  /** Only a change in what is installed warrants a check, not a rewrite of the same list. */
  private inventoryChanged(nodeId: string, inv: Inventory | null): boolean {
    const print = inv ? fingerprint(inv.backends) : "";
    const changed = this.fingerprints.get(nodeId) !== print;
    this.fingerprints.set(nodeId, print);
    return changed;
  }

  /** Settles once the periodic check in flight has (on-demand checks belong to their callers). */
  async stop(): Promise<void> {
    this.active = false;
    for (const u of this.unsubscribe.splice(0)) u();
    clearTimeout(this.debounce);
    await this.periodic.stop();
  }

  private intervalMs(): number {
    return this.d.intervalMs ?? this.d.settings.current().upgradeCheckIntervalSec * 1000;
  }

  /** Coalesce bursts (500 nodes finishing an upgrade) into one check. */
  trigger(): void {
    if (!this.active) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.run("after-change").catch(() => {}), this.d.debounceMs);
  }

  /** On-demand check from the API: the leader's, forwarded if this replica is not the leader. */
  async checkNow(actor: string): Promise<CheckResult> {
    if (this.d.isLeader()) return this.onDemand(actor);
    try {
      const reply = await this.d.client.request(this.forwardSubject, { actor }, this.d.forwardTimeoutMs);
      const env = decode(ApiEnvelope, reply);
      if (env.ok && env.value.ok) {
        const data = validate(api["upgrades.check"].res, env.value.data);
        if (data.ok) return data.value;
      }
      throw new Error(env.ok && !env.value.ok ? env.value.error.message : "malformed reply from the leader");
    } catch (e) {
      this.log.warn("no leader answered the upgrade check; running it here", { error: errorMessage(e) });
      await this.refresh();
      return this.exec(actor, true);
    }
  }

  private async refresh(): Promise<void> {
    await this.d.refreshCatalog?.().catch((e: unknown) =>
      this.log.warn("gallery refresh before the check failed; using the last good copy", {
        error: errorMessage(e),
      }),
    );
  }

  private async onDemand(actor: string): Promise<CheckResult> {
    await this.refresh();
    return this.run(actor);
  }

  /** A check that starts after the call: at once, or after the one in flight. */
  run(actor: string): Promise<CheckResult> {
    return this.checks.runFresh(actor);
  }

  private async exec(actor: string, force: boolean): Promise<CheckResult> {
    const m = this.d.telemetry.metrics;
    const end = m?.upgradeCheckDuration.startTimer();
    let heads = 0;
    try {
      const r = await this.check(actor, force);
      heads = r.headRequests;
      return r;
    } finally {
      end?.();
      m?.upgradeCheckHeads.inc(heads);
    }
  }

  private async check(actor: string, force: boolean): Promise<CheckResult> {
    const autoUpgradeAtStart = this.d.settings.current().autoUpgrade;
    const inventories = await this.inventories();
    const plan = planUpgradeCheck(inventories, this.d.catalog());
    const round = new DigestRound(this.d.registry, this.indexCache);
    const digests = await round.resolveAll(plan.uris);
    const checkedAt = Date.now();
    const findings = computeUpgrades(plan, digests, checkedAt);
    const upgrades = findings.map(summaryOf);
    const failed = [...digests].filter(([, d]) => "error" in d);
    for (const [uri, d] of failed)
      this.log.warn("cannot read image digest", { uri, error: "error" in d ? d.error : "" });
    const result: CheckResult = { upgrades, checkedAt, headRequests: round.heads };
    if (!force && !this.d.isLeader()) {
      this.log.info("lost the lease during a check; not writing its results");
      return result;
    }
    await this.write(upgrades);
    await this.writeNodes(findingsByNode(findings));
    await this.d.client.put("checks", CHECKS_KEY, {
      v: SCHEMA_VERSION,
      at: checkedAt,
      by: actor.slice(0, 128),
      images: plan.uris.length,
      headRequests: round.heads,
      upgradable: upgrades.filter((u) => u.upgradable > 0).length,
      unreachable: failed.length,
    });
    void this.d.audit.post("upgrades.checked", {
      actor,
      message:
        `${upgrades.length} backends with upgrades or drift; ${round.heads} HEAD requests for ${plan.uris.length} images` +
        (failed.length ? `; ${failed.length} images unreachable` : ""),
    });
    this.log.info("upgrade check done", {
      actor,
      upgrades: upgrades.length,
      heads: round.heads,
      rows: plan.rows.length,
    });
    const seen = new Map<string, string>();
    for (const [uri, d] of digests) if (!("error" in d)) seen.set(uri, d.digest);
    for (const listener of this.listeners)
      await listener({ upgrades: findings, inventories, digests: seen, autoUpgradeAtStart });
    return result;
  }

  /**
   * Every node's inventory: the mirror's when it has caught up with the bucket, else read from KV.
   * O(fleet) by nature, once per round: a check judges every installed row of every node.
   */
  private async inventories(): Promise<Inventory[]> {
    const { view, client } = this.d;
    if (await view.current(["inventory"], MIRROR_WAIT_MS))
      return [...view.records.inventory.values()].map((e) => e.value);
    this.log.warn("the mirror of inventories lags; reading them from KV");
    return (await client.list("inventory")).map((s) => s.value);
  }

  /** Per-node rows: put the nodes whose rows changed since the last round, delete the nodes with none. */
  private async writeNodes(byNode: Map<string, NodeUpgrades>): Promise<void> {
    const { client } = this.d;
    const before = this.written ?? new Map((await client.keys("upgrade_nodes")).map((k) => [k, ""]));
    const now = new Map<string, string>();
    const puts: NodeUpgrades[] = [];
    for (const [nodeId, rec] of byNode) {
      const print = fingerprint(rec.rows);
      now.set(nodeId, print);
      if (before.get(nodeId) !== print) puts.push(rec);
    }
    const gone = [...before.keys()].filter((k) => !now.has(k));
    this.written = null; // a round that fails half-way leaves the bucket unknown
    await mapLimit(puts, WRITE_CONCURRENCY, (rec) => client.put("upgrade_nodes", rec.nodeId, rec));
    await mapLimit(gone, WRITE_CONCURRENCY, (k) => client.delete("upgrade_nodes", k).catch(() => {}));
    this.written = now;
  }

  private async write(upgrades: UpgradeInfo[]): Promise<void> {
    const { client } = this.d;
    const keep = new Set<string>();
    for (const u of upgrades) {
      if (!KV_KEY.test(u.backend)) {
        this.log.warn("backend name cannot be a KV key; upgrade not stored", { backend: u.backend });
        continue;
      }
      keep.add(u.backend);
      this.d.view.wrote("upgrades", await client.put("upgrades", u.backend, u));
    }
    for (const key of await client.keys("upgrades")) {
      if (!keep.has(key)) await client.delete("upgrades", key).catch(() => {});
    }
  }
}
