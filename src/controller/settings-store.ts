import type { ClusterClient } from "../client/index.js";
import { SCHEMA_VERSION, SETTINGS_KEY, type Settings } from "../protocol/index.js";
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

  async set(
    change: { autoUpgrade?: boolean; upgradeCheckIntervalSec?: number },
    actor: string,
  ): Promise<Settings> {
    for (let i = 0; i < 10; i++) {
      const cur = await this.read();
      const base = cur?.value ?? DEFAULT_SETTINGS;
      const next: Settings = {
        ...base,
        ...(change.autoUpgrade !== undefined ? { autoUpgrade: change.autoUpgrade } : {}),
        ...(change.upgradeCheckIntervalSec !== undefined
          ? { upgradeCheckIntervalSec: change.upgradeCheckIntervalSec }
          : {}),
        updatedAt: Date.now(),
        updatedBy: actor,
      };
      try {
        if (cur) await this.client.update("settings", SETTINGS_KEY, next, cur.revision);
        else await this.client.create("settings", SETTINGS_KEY, next);
      } catch (e) {
        if (isCasConflict(e)) continue;
        throw e;
      }
      const what = Object.entries(change)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(", ");
      void this.audit.post("settings.changed", { actor, message: what || "no change" });
      return next;
    }
    throw new ApiError("unavailable", "settings keep changing; try again");
  }
}
