import { type ClusterClientOptions } from "../client/index.js";
import { createLogger, type Logger } from "../lib/log.js";
import type { ContextConfig, DashConfig, pickContext } from "../config/index.js";
import { int, list, str, UsageError, type Parsed } from "./args.js";

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/**
 * The saved context to connect with: the one `--context` names, or (for interactive commands,
 * when no --server is given) the config's current one, as kubectl does.
 */
export async function contextFor(p: Parsed, useCurrent: boolean): Promise<ContextConfig | undefined> {
  if (!wantsContext(p, useCurrent)) return undefined;
  // Loaded only when needed: conf's atomic writer installs exit hooks (on import) that re-raise
  // signals, which would cut short the agent's and the controller's graceful shutdown.
  const { loadConfig, pickContext } = await import("../config/index.js");
  return contextFrom(loadConfig().config, p, useCurrent, pickContext);
}

/**
 * `contextFor` with the config already loaded. --server alone is a one-off, so the current
 * context (its prefix, its credentials, read-only) does not apply; --context with --server only
 * swaps the servers. `pick` is config's `pickContext`, passed in so this module does not load
 * the config module (see contextFor).
 */
export function contextFrom(
  config: DashConfig,
  p: Parsed,
  useCurrent: boolean,
  pick: typeof pickContext,
): ContextConfig | undefined {
  return wantsContext(p, useCurrent) ? pick(config, str(p.values.context)) : undefined;
}

/** A context applies when one is named, or the current one is wanted and no --server is given. */
function wantsContext(p: Parsed, useCurrent: boolean): boolean {
  return str(p.values.context) !== undefined || (useCurrent && list(p.values.server).length === 0);
}

/** Flags (and BACKPLANE_* env) win over the context, field by field. */
export function applyContext(p: Parsed, opts: ClusterClientOptions, ctx: ContextConfig | undefined): void {
  if (!ctx) return;
  if (list(p.values.server).length === 0) opts.servers = ctx.servers;
  opts.credsFile ??= ctx.credsFile;
  opts.nkeyFile ??= ctx.nkeyFile;
  opts.user ??= ctx.user;
  opts.pass ??= ctx.password;
  opts.token ??= ctx.token;
  opts.prefix ??= ctx.prefix;
}

/** Build client options from the connection flags (saved contexts are for interactive commands). */
export function clientOptions(
  p: Parsed,
  name: string,
  logger?: Logger,
  o: { interactive?: boolean } = {},
): ClusterClientOptions {
  if (str(p.values.context) !== undefined && !o.interactive) {
    throw new UsageError(
      "--context is for the dashboard and the CLI; give a daemon --server and credentials",
    );
  }
  return flagOptions(p, name, logger);
}

function flagOptions(p: Parsed, name: string, logger?: Logger): ClusterClientOptions {
  const v = p.values;
  const servers = list(v.server);
  const tls =
    str(v["tls-ca"]) || str(v["tls-cert"])
      ? { caFile: str(v["tls-ca"]), certFile: str(v["tls-cert"]), keyFile: str(v["tls-key"]) }
      : undefined;
  return {
    servers: servers.length > 0 ? servers : [DEFAULT_SERVER],
    name,
    credsFile: str(v.creds),
    nkeyFile: str(v.nkey),
    user: str(v.user),
    pass: str(v.password),
    token: str(v.token),
    inboxPrefix: str(v["inbox-prefix"]),
    tls,
    prefix: str(v.prefix),
    replicas: int(v.replicas, "replicas", 1),
    logger: logger ?? createLogger({ role: name }),
  };
}
