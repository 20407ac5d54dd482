import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { closeHttp, listenHttp } from "./http-server.js";
import { bearerMatches } from "./http-token.js";
import { errorMessage, type Logger } from "./log.js";
import { isLoopbackHost, parseListen } from "./net.js";

/** What a process answers on: liveness, readiness and Prometheus metrics. */
export const STATUS_PATHS: readonly string[] = ["/healthz", "/readyz", "/metrics"];

export interface ReadinessCheck {
  /** Named in a 503 (`nats`, `work-consumer`, `backends-dir`, ...). */
  readonly name: string;
  /** Why this is not ready, or undefined when it is. */
  check(): string | undefined | Promise<string | undefined>;
}

export interface Readiness {
  ready: boolean;
  checks: Array<{ name: string; ok: boolean; reason?: string }>;
}

/** A check that does not answer in this time fails (a probe must not hang on a stuck disk). */
export const CHECK_TIMEOUT_MS = 2_000;

export async function readiness(checks: readonly ReadinessCheck[]): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((r) => {
        timer = setTimeout(() => r(`no answer within ${CHECK_TIMEOUT_MS} ms`), CHECK_TIMEOUT_MS);
      });
      try {
        const reason = await Promise.race([Promise.resolve().then(() => c.check()), late]);
        return reason === undefined ? { name: c.name, ok: true } : { name: c.name, ok: false, reason };
      } catch (e) {
        return { name: c.name, ok: false, reason: errorMessage(e) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results };
}

export interface StatusSources {
  registry: Registry;
  checks: readonly ReadinessCheck[];
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}

/**
 * Answer `/healthz` (200 while the process and its event loop answer), `/readyz` (200, or 503
 * with the failing checks named) or `/metrics` (the Prometheus text format). False for any other
 * path. The caller has checked the method and, for `/metrics`, the token.
 */
export async function serveStatus(path: string, res: ServerResponse, s: StatusSources): Promise<boolean> {
  switch (path) {
    case "/healthz":
      reply(res, 200, "text/plain; charset=utf-8", "ok\n");
      return true;
    case "/readyz": {
      const r = await readiness(s.checks);
      reply(res, r.ready ? 200 : 503, "application/json; charset=utf-8", JSON.stringify(r));
      return true;
    }
    case "/metrics":
      reply(res, 200, s.registry.contentType, await s.registry.metrics());
      return true;
    default:
      return false;
  }
}

export interface StatusServerOptions extends StatusSources {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** Bearer token `/metrics` requires; without one the server binds to loopback only. */
  token?: string;
  /** A request's headers must arrive within this; default 5 s. */
  requestTimeoutMs?: number;
  log: Logger;
}

/** Why `listen` may not be served with (or without) `token`; undefined when it may. */
export function statusListenProblem(listen: string, token: string | undefined): string | undefined {
  let host: string;
  try {
    host = parseListen(listen).host;
  } catch (e) {
    return errorMessage(e);
  }
  if (!token && !isLoopbackHost(host)) {
    return `refusing to serve /metrics on ${host} without a token: bind to 127.0.0.1 or ::1, or give --http-token or --http-token-file`;
  }
  return undefined;
}

/**
 * A small read-only HTTP server with only the status endpoints: GET, nothing else, 404 for any
 * other path. `/metrics` needs the bearer token when one is set; `/healthz` and `/readyz` say
 * nothing but check names and never do. Beyond loopback a token is required; on loopback,
 * `Host` must be a loopback name (a page whose name rebinds to 127.0.0.1 reads nothing).
 */
export class StatusServer {
  private server?: Server;
  private loopback = true;

  constructor(private readonly o: StatusServerOptions) {}

  async start(): Promise<{ host: string; port: number; url: string }> {
    const problem = statusListenProblem(this.o.listen, this.o.token);
    if (problem) throw new Error(problem);
    const { host } = parseListen(this.o.listen);
    this.loopback = isLoopbackHost(host);
    const timeout = this.o.requestTimeoutMs ?? 5_000;
    const bound = await listenHttp(this.o.listen, (req, res) => void this.serve(req, res), {
      requestTimeoutMs: timeout,
    });
    bound.server.keepAliveTimeout = timeout;
    bound.server.maxConnections = 64;
    this.server = bound.server;
    return { host: bound.host, port: bound.port, url: bound.url };
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (status: number, body: string) => reply(res, status, "text/plain; charset=utf-8", body);
    try {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (!STATUS_PATHS.includes(path)) return text(404, "not found\n");
      if (req.method !== "GET") {
        res.setHeader("allow", "GET");
        return text(405, "only GET\n");
      }
      if (this.loopback && !isLoopbackHost(req.headers.host ?? "")) {
        return text(421, "Host is not a loopback name\n");
      }
      if (path === "/metrics" && this.o.token && !bearerMatches(this.o.token, req.headers.authorization)) {
        res.setHeader("www-authenticate", 'Bearer realm="backplane"');
        return text(401, "missing or wrong bearer token\n");
      }
      await serveStatus(path, res, this.o);
    } catch (e) {
      this.o.log.warn("status request failed", { url: req.url, error: errorMessage(e) });
      if (!res.headersSent) text(500, "internal error\n");
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeHttp(s);
  }
}
