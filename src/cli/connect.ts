import { ClusterClient, createLogger, type ClusterClientOptions, type Logger } from "../client/index.js";
import { int, list, str, type Parsed } from "./args.js";

export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/** Build client options from the connection flags (context resolution is layered on by the CLI). */
export function clientOptions(p: Parsed, name: string, logger?: Logger): ClusterClientOptions {
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
