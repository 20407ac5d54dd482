import { CONFIG_VERSION } from "./schema.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Bring a config object written by an older build up to CONFIG_VERSION (our own migration rather
 * than conf's, which its maintainer calls unsupported). Version 0 is a file with no configVersion,
 * where a single `server` string or a `servers` string per context was accepted.
 */
export function migrate(raw: Record<string, unknown>): Record<string, unknown> {
  const version = typeof raw.configVersion === "number" ? raw.configVersion : 0;
  if (version > CONFIG_VERSION) {
    throw new ConfigError(
      `config version ${version} was written by a newer backplane (this build reads up to ${CONFIG_VERSION})`,
    );
  }
  const out: Record<string, unknown> = { ...raw };
  if (version < 1) {
    if (Array.isArray(out.contexts)) {
      out.contexts = out.contexts.map((c: unknown) => {
        if (typeof c !== "object" || c === null) return c;
        const ctx = { ...(c as Record<string, unknown>) };
        if (typeof ctx.server === "string" && ctx.servers === undefined) ctx.servers = [ctx.server];
        if (typeof ctx.servers === "string") ctx.servers = ctx.servers.split(",").map((s) => s.trim());
        delete ctx.server;
        return ctx;
      });
    }
    out.configVersion = 1;
  }
  return out;
}
