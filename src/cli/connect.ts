import { ClusterClient, createLogger, type ClusterClientOptions, type Logger } from "../client/index.js";
import { loadConfig, pickContext, type ContextConfig } from "../config/index.js";
import { int, list, str, type Parsed } from "./args.js";

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/**
 * The saved context to connect with: the one `--context` names, or (for interactive commands,
 * when no --server is given) the config's current one, as kubectl does.
 */
export function contextFor(p: Parsed, useCurrent: boolean): ContextConfig | undefined {
  const named = str(p.values.context);
  if (named === undefined && (!useCurrent || list(p.values.server).length > 0)) return undefined;
  return pickContext(loadConfig().config, named);
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

/** Build client options from the connection flags and an explicit `--context`. */
export function clientOptions(p: Parsed, name: string, logger?: Logger): ClusterClientOptions {
  const opts = flagOptions(p, name, logger);
  applyContext(p, opts, contextFor(p, false));
  return opts;
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
    tls,
    prefix: str(v.prefix),
    replicas: int(v.replicas, "replicas", 1),
    logger: logger ?? createLogger({ role: name }),
  };
}

export async function connectFromFlags(p: Parsed, name: string, logger?: Logger): Promise<ClusterClient> {
  return ClusterClient.connect(clientOptions(p, name, logger));
}
