import Conf from "conf";
import { readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError, migrate } from "./migrate.js";
import { DEFAULTS, schema, type ContextConfig, type DashConfig } from "./schema.js";

export interface ConfigLocation {
  /** Directory of config.json; default: see configDir(). */
  dir?: string;
}

export interface LoadedConfig {
  path: string;
  config: DashConfig;
  /** Persist a change (e.g. `currentContext`). */
  save(patch: Partial<DashConfig>): void;
}

/** ~/.config/backplane (or $XDG_CONFIG_HOME/backplane); $BACKPLANE_CONFIG_DIR overrides it. */
export function configDir(loc: ConfigLocation = {}): string {
  if (loc.dir) return loc.dir;
  if (process.env.BACKPLANE_CONFIG_DIR) return process.env.BACKPLANE_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(base, "backplane");
}

/** conf validates on open, so an old-format file is migrated (and rewritten) before conf sees it. */
function migrateFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new ConfigError(`${path}: cannot read (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${path}: expected a JSON object`);
  }
  const before = (raw as Record<string, unknown>).configVersion;
  const migrated = migrate(raw as Record<string, unknown>);
  if (migrated.configVersion !== before) {
    writeFileSync(path, JSON.stringify(migrated, null, "\t"), { mode: 0o600 });
  }
}

/** Open (creating if needed) the dashboard config; a bad file is an error that names the file. */
export function loadConfig(loc: ConfigLocation = {}): LoadedConfig {
  const dir = configDir(loc);
  const path = join(dir, "config.json");
  migrateFile(path);
  let conf: Conf<DashConfig>;
  try {
    conf = new Conf<DashConfig>({
      cwd: dir,
      configName: "config",
      configFileMode: 0o600,
      clearInvalidConfig: false,
      defaults: DEFAULTS,
      schema: schema as never,
      rootSchema: { additionalProperties: false },
    });
  } catch (e) {
    throw new ConfigError(`${path}: ${(e as Error).message}`);
  }
  const config = conf.store;
  if (config.currentContext && !config.contexts.some((c) => c.name === config.currentContext)) {
    throw new ConfigError(
      `${path}: currentContext "${config.currentContext}" is not one of the contexts (${
        config.contexts.map((c) => c.name).join(", ") || "none defined"
      })`,
    );
  }
  return {
    path,
    config,
    save(patch) {
      try {
        for (const [k, v] of Object.entries(patch)) conf.set(k as keyof DashConfig, v as never);
      } catch (e) {
        throw new ConfigError(`${path}: ${(e as Error).message}`);
      }
    },
  };
}

/** Pick the context: an explicit name must exist; otherwise the current one, else the first. */
export function pickContext(config: DashConfig, name: string | undefined): ContextConfig | undefined {
  if (name !== undefined) {
    const hit = config.contexts.find((c) => c.name === name);
    if (!hit) {
      const known = config.contexts.map((c) => c.name).join(", ") || "none defined";
      throw new ConfigError(`no context named "${name}" in the config (known: ${known})`);
    }
    return hit;
  }
  const cur = config.currentContext ?? config.contexts[0]?.name;
  return config.contexts.find((c) => c.name === cur);
}
