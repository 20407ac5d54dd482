import { readFile } from "node:fs/promises";
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { errorMessage } from "../lib/log.js";
import type { ConnectProblem } from "./errors.js";

/** How to reach NATS: what a dashboard context, a flag set or an env block describes. */
export interface ConnectOptions {
  servers: string[];
  /** Client name shown by the server (`nats server report connections`). */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Path to an nkey seed file (`SU...`). */
  nkeyFile?: string;
  /** Path to a `.creds` file (JWT + seed). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; handshakeFirst?: boolean };
  /** Per-attempt dial timeout. */
  timeoutMs?: number;
  /**
   * Subject prefix of this client's reply inboxes. Default `_INBOX_<user>` when a user name is
   * given (deploy/nats-server.conf lets each user subscribe to its own prefix only), else `_INBOX`.
   */
  inboxPrefix?: string;
}

/** The inbox prefix `dial` uses: the given one, else `_INBOX_<user>` for a user name that is one token. */
export function inboxPrefixFor(opts: Pick<ConnectOptions, "user" | "inboxPrefix">): string | undefined {
  if (opts.inboxPrefix !== undefined) {
    if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(opts.inboxPrefix)) {
      throw new Error(
        `bad inbox prefix ${JSON.stringify(opts.inboxPrefix)}: use tokens of [A-Za-z0-9_-] joined by '.'`,
      );
    }
    return opts.inboxPrefix;
  }
  return opts.user && /^[A-Za-z0-9_-]+$/.test(opts.user) ? `_INBOX_${opts.user}` : undefined;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected" | "closed";

export interface ConnectionStatus {
  state: ConnectionState;
  /** The server we are connected to, or last tried. */
  server?: string;
  /** Why we are not connected, in words an operator can act on. */
  reason?: string;
  /** What kind of failure `reason` is, for callers that decide whether waiting can fix it. */
  problem?: ConnectProblem;
  since: number;
  attempts: number;
}

/** Turn a connection error into a reason an operator can act on. */
export function describeConnectError(e: unknown): string {
  const msg = errorMessage(e);
  const code = (e as { code?: string }).code ?? "";
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const all = `${msg} ${code} ${cause?.code ?? ""} ${cause?.message ?? ""}`;
  if (/Authorization|authentication|auth.*(fail|viol)/i.test(all)) return `authorization refused (${msg})`;
  if (/ECONNREFUSED|connection refused/i.test(all))
    return "connection refused: is nats-server running there?";
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(all)) return "host not found (DNS)";
  if (/TIMEOUT|timed out|timeout/i.test(all)) return "timed out connecting";
  if (/Invalid URL|invalid url|ERR_INVALID_URL/i.test(all)) return `bad server URL (${msg})`;
  if (/TLS|certificate|SSL/i.test(all)) return `TLS failed (${msg})`;
  return msg;
}

async function authenticator(opts: ConnectOptions): Promise<Authenticator | undefined> {
  if (opts.credsFile) return credsAuthenticator(await readFile(opts.credsFile));
  if (opts.nkeyFile) {
    const seed = (await readFile(opts.nkeyFile, "utf8")).trim();
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return undefined;
}

export function validateServers(servers: string[]): void {
  if (servers.length === 0) throw new Error("no NATS server given (use --server or BACKPLANE_SERVER)");
  for (const s of servers) {
    const url = /^[a-z]+:\/\//.test(s) ? s : `nats://${s}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`bad server URL ${JSON.stringify(s)}`);
    }
    if (!["nats:", "tls:", "ws:", "wss:"].includes(parsed.protocol)) {
      throw new Error(`bad server URL ${JSON.stringify(s)}: scheme must be nats:// or tls://`);
    }
  }
}

/** One dial attempt; after it succeeds the client itself reconnects forever with jitter. */
export async function dial(opts: ConnectOptions): Promise<NatsConnection> {
  validateServers(opts.servers);
  const auth = await authenticator(opts);
  const o: NodeConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    user: opts.user,
    pass: opts.pass,
    token: opts.token,
    inboxPrefix: inboxPrefixFor(opts),
    authenticator: auth,
    timeout: opts.timeoutMs ?? 5_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1_000,
    pingInterval: 10_000,
    maxPingOut: 3,
    waitOnFirstConnect: false,
    ignoreClusterUpdates: false,
    // Otherwise every request and JetStream publish builds an Error up front (for its stack) just
    // in case it fails: a third of the controller's CPU when it admits 10,000 ops (issue 15).
    noAsyncTraces: true,
  };
  if (opts.tls) o.tls = { ...opts.tls };
  return connect(o);
}

/** Jittered exponential backoff: 250 ms doubling to 5 s, ±50 %. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5_000, 250 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.5 + Math.random()));
}
