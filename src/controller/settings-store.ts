import type { ClusterClient } from "../client/index.js";
import {
  parseStrategy,
  parseWindow,
  SCHEMA_VERSION,
  SETTINGS_KEY,
  strategyDefaults,
  type ApiRequest,
  type MaintenanceWindow,
  type Settings,
} from "../protocol/index.js";
import type { Audit } from "./audit.js";
import { DEFAULT_CHECK_INTERVAL_MS } from "./config.js";
import { isCasConflict, MalformedRecordError, type Entry } from "../client/index.js";
import { ApiError } from "./errors.js";
import type { ClusterView } from "./view.js";

export const DEFAULT_SETTINGS: Settings = {
  v: SCHEMA_VERSION,
  autoUpgrade: false,
  upgradeCheckIntervalSec: DEFAULT_CHECK_INTERVAL_MS / 1000,
  updatedAt: 0,
  updatedBy: "default",
};

export type SettingsChange = Omit<ApiRequest<"settings.set">, "actor">;

/** "", "none" and null all mean: no maintenance window. */
const noWindow = (w: string | null) => w === null || /^\s*(none|off)?\s*$/i.test(w);

/**
 * The settings `change` makes of `base`; a value that does not parse is a bad request naming
 * its field. The strategy fields parse over the current defaults, as `rollouts.start` does.
 */
export function applySettings(base: Settings, change: SettingsChange, actor: string, now: number): Settings {
  const next: Settings = { ...base, updatedAt: now, updatedBy: actor };
  if (change.autoUpgrade !== undefined) next.autoUpgrade = change.autoUpgrade;
  if (change.upgradeCheckIntervalSec !== undefined)
    next.upgradeCheckIntervalSec = change.upgradeCheckIntervalSec;
  const { waves, maxParallel, soak, maxFailures, autoPromote, autoRevert } = change;
  const strategyChanged = [waves, maxParallel, soak, maxFailures, autoPromote, autoRevert].some(
    (x) => x !== undefined,
  );
  if (strategyChanged) {
    const p = parseStrategy(
      { waves, maxParallel, soak, maxFailures: maxFailures ?? undefined, autoPromote, autoRevert },
      strategyDefaults(base),
    );
    if (!p.ok) throw new ApiError("bad_request", `${p.field} ${p.error}`, p.field);
    const { maxFailures: budget, ...rest } = p.strategy;
    next.rolloutDefaults =
      maxFailures === null || budget === undefined ? rest : { ...rest, maxFailures: budget };
  }
  if (change.window !== undefined) {
    if (noWindow(change.window)) delete next.window;
    else {
      const w = parseWindow(change.window!);
      if (!w.ok) throw new ApiError("bad_request", `window ${w.error}`, "window");
      next.window = w.window.source;
    }
  }
  return next;
}

/** What a change says, for the audit trail: `autoUpgrade=true, window=Sat 02:00-05:00 UTC`. */
export function describeChange(change: SettingsChange): string {
  return (
    Object.entries(change)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v === null ? "unset" : String(v)}`)
      .join(", ") || "no change"
  );
}

/** The window the settings give: none, parsed, or why it does not parse. */
export function windowOf(s: Settings): MaintenanceWindow | { error: string } | null {
  if (s.window === undefined) return null;
  const w = parseWindow(s.window);
  return w.ok
    ? w.window
    : { error: `maintenance window ${JSON.stringify(s.window)} does not parse: ${w.error}` };
}

/** Runtime settings, persisted in the `settings` bucket; auto-upgrade is off until someone turns it on. */
export class SettingsStore {
  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    private readonly audit: Audit,
  ) {}

  /** The settings in effect (this replica's watch copy, else the defaults). */
  current(): Settings {
    return this.view.settings ?? DEFAULT_SETTINGS;
  }

  /** The stored settings; a malformed value reads as the defaults (and is logged once). */
  async get(): Promise<Settings> {
    return (await this.read())?.value ?? DEFAULT_SETTINGS;
  }

  /** The record, or for a malformed value its revision (so `set` can write over it). */
  private async read(): Promise<Entry<Settings> | { value: null; revision: number } | null> {
    try {
      return await this.client.get("settings", SETTINGS_KEY);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      this.client.reportMalformed("settings", e.key, e.revision, e.reason);
      return { value: null, revision: e.revision };
    }
  }

  async set(change: SettingsChange, actor: string): Promise<Settings> {
    for (let i = 0; i < 10; i++) {
      const cur = await this.read();
      const next = applySettings(cur?.value ?? DEFAULT_SETTINGS, change, actor, Date.now());
      try {
        if (cur) await this.client.update("settings", SETTINGS_KEY, next, cur.revision);
        else await this.client.create("settings", SETTINGS_KEY, next);
      } catch (e) {
        if (isCasConflict(e)) continue;
        throw e;
      }
      void this.audit.post("settings.changed", { actor, message: describeChange(change) });
      return next;
    }
    throw new ApiError("unavailable", "settings keep changing; try again");
  }
}
