import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { networkInterfaces } from "node:os";
import type { Duplex } from "node:stream";
import { bearerMatches, defaultHttpTokenFile, ensureHttpToken } from "../lib/http-token.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { closeHttp, listenHttp } from "../lib/http-server.js";
import { hostName, isLoopbackHost, parseListen } from "../lib/net.js";
import { serveStatus, STATUS_PATHS, type StatusSources } from "../lib/status-endpoints.js";
import type { Telemetry } from "../lib/telemetry.js";
import {
  IDEMPOTENCY_HEADER,
  type ApiEnvelope,
  type ApiErrorCode,
  type ApiMethod,
  type ApiResult,
} from "../protocol/index.js";
import type { ApiHandlers } from "./api-handlers.js";
import type { EventStream } from "./events-ws.js";

export interface HttpApiOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /**
   * Bearer token every request must carry; required to bind beyond loopback. Without one, the
   * token in `tokenFile` is used, generated there first when there is none.
   */
  token?: string;
  /** Where the generated token is kept, default `defaultHttpTokenFile()`. */
  tokenFile?: string;
  /** Names besides the listener's own address that requests may carry in `Host` (`--http-host`). */
  hosts?: string[];
  /** A request's headers and body must arrive within this; default 9 s (checked every 0.5 s). */
  requestTimeoutMs?: number;
  /** Each gallery's load status (`GET /api/galleries`): what is in use and why a reload failed. */
  galleries?: () => unknown[];
  /**
   * `/healthz` and `/readyz` (no token: probes and load balancers; they name checks and nothing
   * else) and `/metrics` (with the token, as Prometheus scrapes with `authorization`).
   */
  status?: StatusSources;
  telemetry: Telemetry;
}

const STATUS: Record<ApiErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

const MAX_BODY = 1024 * 1024;
export const REQUEST_TIMEOUT_MS = 9_000;

type Params = Record<string, string>;
type Query = URLSearchParams;
type Body = Record<string, unknown>;

interface Route {
  method: "GET" | "POST" | "PUT";
  path: RegExp;
  api: ApiMethod;
  build: (p: Params, q: Query, body: Body) => unknown;
}

const ADMIT: readonly ApiMethod[] = [
  "ops.install",
  "ops.upgrade",
  "ops.reinstall",
  "ops.delete",
  "ops.rollback",
];

const bool = (v: string | null) => (v === null ? undefined : /^(1|true|yes)$/i.test(v));
const num = (v: string | null) => (v === null || v === "" ? undefined : Number(v));
const opt = (v: string | null) => (v === null || v === "" ? undefined : v);
const csv = (v: string | null) => (v === null || v === "" ? undefined : v.split(",").map((s) => s.trim()));

/** `?limit=N&after=CURSOR` of a paged list; `after` is a number where the cursor is a position. */
const page = (q: Query, cursor: (v: string | null) => unknown = opt) => ({
  limit: num(q.get("limit")),
  after: cursor(q.get("after")),
});

function route(method: Route["method"], pattern: string, api: ApiMethod, build: Route["build"]): Route {
  const re = pattern.replace(/:([a-z]+)/g, (_m, n: string) => `(?<${n}>[^/]+)`);
  return { method, path: new RegExp(`^${re}/?$`), api, build };
}

/** The seed's endpoints, mapped onto API methods. Path parameters win over body fields. */
const ROUTES: Route[] = [
  route("GET", "/api/backends/upgrades", "upgrades.list", () => ({})),
  route("POST", "/api/backends/upgrades/check", "upgrades.check", (_p, _q, b) => b),
  route("POST", "/api/backends/upgrade/:name", "ops.upgrade", (p, _q, b) => ({ ...b, backend: p.name })),
  route("POST", "/api/backends/reinstall/:name", "ops.reinstall", (p, _q, b) => ({ ...b, backend: p.name })),
  route("POST", "/api/backends/delete/:name", "ops.delete", (p, _q, b) => ({ ...b, backend: p.name })),
  ...(["install", "upgrade", "reinstall", "delete", "rollback"] as const).map((verb) =>
    route("POST", `/api/nodes/:id/backends/${verb}`, `ops.${verb}`, (p, _q, b) => ({ ...b, nodes: [p.id] })),
  ),
  route("GET", "/api/operations", "ops.list", (_p, q) => ({
    all: bool(q.get("all")) ?? false,
    nodeId: opt(q.get("node")),
    backend: opt(q.get("backend")),
    kind: opt(q.get("kind")),
    ...page(q),
  })),
  route("GET", "/api/operations/history", "ops.history", (_p, q) => ({
    limit: num(q.get("limit")),
    nodeId: opt(q.get("node")),
    backend: opt(q.get("backend")),
  })),
  ...(["cancel", "dismiss", "retry"] as const).map((verb) =>
    route("POST", `/api/operations/:id/${verb}`, `ops.${verb}`, (p, _q, b) => ({ ...b, opId: p.id })),
  ),
  route("GET", "/api/operations/:id", "ops.get", (p) => ({ opId: p.id })),
  route("GET", "/api/backends/job/:id", "ops.get", (p) => ({ opId: p.id })),
  route("GET", "/api/nodes", "nodes.list", (_p, q) => page(q)),
  ...(["drain", "resume", "approve"] as const).map((verb) =>
    route("POST", `/api/nodes/:id/${verb}`, `nodes.${verb}`, (p, _q, b) => ({ ...b, nodeId: p.id })),
  ),
  route("POST", "/api/nodes/:id/hold", "nodes.hold", (p, _q, b) => ({ ...b, nodeId: p.id })),
  route("POST", "/api/nodes/:id/unhold", "nodes.unhold", (p, _q, b) => ({ ...b, nodeId: p.id })),
  route("POST", "/api/backends/pin/:name", "backends.pin", (p, _q, b) => ({ ...b, backend: p.name })),
  route("POST", "/api/backends/unpin/:name", "backends.unpin", (p, _q, b) => ({ ...b, backend: p.name })),
  route("GET", "/api/policy", "policy.list", () => ({})),
  route("GET", "/api/rollouts", "rollouts.list", (_p, q) => ({ all: q.get("all") === "true" })),
  route("POST", "/api/rollouts/plan", "rollouts.plan", (_p, _q, b) => b),
  route("POST", "/api/rollouts", "rollouts.start", (_p, _q, b) => b),
  route("GET", "/api/rollouts/:id", "rollouts.get", (p, q) => ({ id: p.id, ...page(q, num) })),
  ...(["pause", "resume", "promote", "abort", "dismiss"] as const).map((verb) =>
    route("POST", `/api/rollouts/:id/${verb}`, `rollouts.${verb}`, (p, _q, b) => ({ ...b, id: p.id })),
  ),
  route("GET", "/api/settings", "settings.get", () => ({})),
  route("PUT", "/api/settings", "settings.set", (_p, _q, b) => b),
  route("POST", "/api/settings", "settings.set", (_p, _q, b) => b),
  route("GET", "/api/gallery", "gallery.list", () => ({})),
  route("GET", "/api/gallery/:name/resolve", "gallery.resolve", (p, q) => ({
    backend: p.name,
    nodes: csv(q.get("nodes")),
  })),
];

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const STATUS_TEXT: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  421: "Misdirected Request",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

const isJson = (contentType: string | undefined) =>
  (contentType ?? "").split(";")[0]!.trim().toLowerCase() === "application/json";

/** An `Origin` is this listener's own when it names the same host and port the request went to. */
function sameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}

const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/**
 * The names a request's `Host` may carry: the address the listener is bound to (every interface's
 * address for a wildcard bind), `localhost` for a loopback listener, and the `--http-host` names.
 * Anything else is a page that had a name of its own resolve to us (DNS rebinding), or a mistake.
 */
function allowedHosts(listenHost: string, bound: string, extra: string[]): Set<string> {
  const names = new Set([hostName(listenHost), bound.toLowerCase(), ...extra.map(hostName)]);
  if (WILDCARD.has(listenHost) || WILDCARD.has(bound)) {
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ""));
    }
  }
  if ([...names].some(isLoopbackHost)) names.add("localhost");
  for (const w of WILDCARD) names.delete(w);
  return names;
}

/** The URL as it may be logged: a `?token=` value is replaced. */
export function redactUrl(url: string | undefined): string {
  return (url ?? "").replace(/([?&]token=)[^&#]*/gi, "$1REDACTED");
}

/**
 * The same handlers over HTTP/JSON with bearer-token auth, always: without `--token` the token is
 * generated into a file only this user can read. Binding beyond loopback without `--token` is
 * refused. A request must name this listener in `Host` (DNS rebinding), and one that changes state
 * must be JSON from no foreign `Origin` (cross-site forms and fetches); the events socket checks
 * the same plus its caps.
 */
export class HttpApi {
  private server?: Server;
  private readonly log: Logger;
  private token = "";
  private serving = false;
  private allowedHosts = new Set<string>();

  constructor(
    private readonly handlers: ApiHandlers,
    private readonly events: EventStream,
    private readonly opts: HttpApiOptions,
  ) {
    this.log = opts.telemetry.log;
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const { host } = parseListen(this.opts.listen);
    if (!this.opts.token && !isLoopbackHost(host)) {
      throw new Error(
        `refusing to serve HTTP on ${host} without --token: only loopback may use a generated token`,
      );
    }
    this.token = this.opts.token ?? (await this.generatedToken());
    const bound = await listenHttp(this.opts.listen, (req, res) => void this.serve(req, res), {
      requestTimeoutMs: this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      upgrade: (req, socket, head) => this.upgrade(req, socket, head),
    });
    this.server = bound.server;
    this.allowedHosts = allowedHosts(host, bound.host, this.opts.hosts ?? []);
    return { host: bound.host, port: bound.port, url: bound.url };
  }

  /** Answer requests from now on; until then (the replica is starting) they get a 503. */
  open(): void {
    this.serving = true;
  }

  private async generatedToken(): Promise<string> {
    const file = this.opts.tokenFile ?? defaultHttpTokenFile();
    const { token, generated } = await ensureHttpToken(file).catch((e: unknown) => {
      throw new Error(`cannot keep the HTTP token in ${file}: ${errorMessage(e)}`);
    });
    this.log.info(generated ? "HTTP token generated" : "HTTP token reused", { file });
    return token;
  }

  /** Why this request may not be served at all (wrong Host, foreign Origin, wrong token). */
  private refusal(
    req: IncomingMessage,
    changesState: boolean,
  ): { status: number; message: string } | undefined {
    const host = req.headers.host ?? "";
    if (!this.allowedHosts.has(hostName(host))) {
      return {
        status: 421,
        message: `Host ${JSON.stringify(host)} is not this controller's address; add the name with --http-host`,
      };
    }
    const origin = req.headers.origin;
    if (changesState && origin !== undefined && !sameOrigin(origin, host)) {
      return { status: 403, message: `requests from origin ${JSON.stringify(origin)} are refused` };
    }
    return undefined;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://x");
    const from = req.socket.remoteAddress ?? "unknown";
    const refuse = (status: number, reason: string) => {
      this.log.info("events socket refused", { from, url: redactUrl(req.url), status, reason });
      socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Refused"}\r\nconnection: close\r\n\r\n`);
    };
    socket.on("error", () => {});
    if (url.pathname !== "/api/events") return refuse(404, "no such socket");
    const bad = this.refusal(req, true);
    if (bad) return refuse(bad.status, bad.message);
    const query = url.searchParams.get("token");
    const bearer = req.headers.authorization ?? (query ? `Bearer ${query}` : undefined);
    if (!bearerMatches(this.token, bearer)) return refuse(401, "missing or wrong bearer token");
    if (!this.serving) return refuse(503, "the controller is starting");
    const full = this.events.refusal(from);
    if (full) return refuse(full.status, full.reason);
    this.log.debug("events socket opened", { from, url: redactUrl(req.url) });
    this.events.handleUpgrade(req, socket, head, bool(url.searchParams.get("snapshot")) ?? false);
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  private fail(res: ServerResponse, code: ApiErrorCode, message: string, field?: string): void {
    const env: ApiEnvelope = { ok: false, error: { code, message, ...(field ? { field } : {}) } };
    this.send(res, STATUS[code], env);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const method = req.method ?? "GET";
      const bad = this.refusal(req, !SAFE_METHODS.has(method));
      if (bad) {
        return this.send(res, bad.status, {
          ok: false,
          error: { code: bad.status === 403 ? "unauthorized" : "bad_request", message: bad.message },
        });
      }
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (this.opts.status && STATUS_PATHS.includes(path)) return await this.status(req, res, path);
      if (!bearerMatches(this.token, req.headers.authorization)) {
        res.setHeader("www-authenticate", 'Bearer realm="backplane"');
        return this.fail(res, "unauthorized", "missing or wrong bearer token");
      }
      if (!this.serving) return this.fail(res, "unavailable", "the controller is starting");
      const url = new URL(req.url ?? "/", "http://x");
      const badQuery = malformedQuery(url.search);
      if (badQuery) return this.fail(res, "bad_request", badQuery);
      let body: Body = {};
      if (method === "POST" || method === "PUT") {
        if (!isJson(req.headers["content-type"])) {
          return this.send(res, 415, {
            ok: false,
            error: { code: "bad_request", message: "request body must be Content-Type: application/json" },
          });
        }
        const parsed = await readJson(req);
        if (!parsed.ok) {
          return this.send(res, parsed.status, {
            ok: false,
            error: { code: "bad_request", message: parsed.error },
          });
        }
        body = parsed.value;
      }
      if (url.pathname === "/api/galleries" && method === "GET" && this.opts.galleries) {
        return this.send(res, 200, { ok: true, data: { galleries: this.opts.galleries() } });
      }
      const rpc = /^\/api\/rpc\/([a-z]+\.[a-z]+)$/.exec(url.pathname);
      const matches = ROUTES.filter((r) => r.path.test(url.pathname));
      const r = matches.find((m) => m.method === method);
      let apiMethod: ApiMethod | string;
      let request: unknown;
      if (rpc && method === "POST") {
        apiMethod = rpc[1]!;
        request = body;
      } else if (r) {
        const params = (r.path.exec(url.pathname)?.groups ?? {}) as Params;
        apiMethod = r.api;
        request = r.build(params, url.searchParams, body);
      } else if (matches.length > 0) {
        res.setHeader("allow", [...new Set(matches.map((m) => m.method))].join(", "));
        return this.send(res, 405, {
          ok: false,
          error: { code: "bad_request", message: `${method} not allowed here` },
        });
      } else {
        return this.fail(res, "not_found", `no route ${method} ${url.pathname}`);
      }
      const actorHeader = req.headers["x-backplane-actor"];
      const defaultActor =
        typeof actorHeader === "string" && actorHeader ? actorHeader.slice(0, 128) : "http";
      const key = req.headers[IDEMPOTENCY_HEADER.toLowerCase()];
      const env = await this.handlers.handle(apiMethod, stripUndefined(request), {
        defaultActor,
        ...(typeof key === "string" && key ? { idempotencyKey: key } : {}),
      });
      if (!env.ok) return this.send(res, STATUS[env.error.code], env);
      if ((ADMIT as readonly string[]).includes(apiMethod))
        return this.sendAdmission(res, env.data as AdmitData);
      this.send(res, 200, env);
    } catch (e) {
      this.log.error("HTTP request failed", { url: redactUrl(req.url), error: errorMessage(e) });
      if (!res.headersSent) this.fail(res, "internal", errorMessage(e));
    }
  }

  /** The status endpoints: GET only; the token for /metrics alone; served while starting too. */
  private async status(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      return this.send(res, 405, { ok: false, error: { code: "bad_request", message: "only GET" } });
    }
    if (path === "/metrics" && !bearerMatches(this.token, req.headers.authorization)) {
      res.setHeader("www-authenticate", 'Bearer realm="backplane"');
      return this.fail(res, "unauthorized", "missing or wrong bearer token");
    }
    const starting = { name: "api", check: () => (this.serving ? undefined : "the controller is starting") };
    await serveStatus(path, res, { ...this.opts.status!, checks: [...this.opts.status!.checks, starting] });
  }

  /** 202 with the op ids at once; when every node was refused, the refusals as an error. */
  private sendAdmission(res: ServerResponse, data: AdmitData): void {
    if (data.admitted.length > 0 || data.refused.length === 0) {
      return this.send(res, 202, { ok: true, data });
    }
    const allUnknown = data.refused.every((r) => /^unknown node /.test(r.error));
    const message = data.refused.map((r) => `${r.nodeId}: ${r.error}`).join("; ");
    this.fail(res, allUnknown ? "not_found" : "conflict", message.slice(0, 4096), "nodes");
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await closeHttp(s);
  }
}

type AdmitData = ApiResult<"ops.install">;

/**
 * Why a query string cannot be read, or undefined: URLSearchParams passes a stray `%` through as
 * it is, so `?node=%` would silently ask for a node named "%".
 */
export function malformedQuery(search: string): string | undefined {
  for (const part of search.replace(/^\?/, "").split(/[&=]/)) {
    try {
      decodeURIComponent(part.replace(/\+/g, " "));
    } catch {
      return `malformed query string: ${JSON.stringify(part.slice(0, 64))} is not valid percent-encoding`;
    }
  }
  return undefined;
}

function stripUndefined(v: unknown): unknown {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
}

async function readJson(
  req: IncomingMessage,
): Promise<{ ok: true; value: Body } | { ok: false; status: number; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) return { ok: false, status: 413, error: `request body over ${MAX_BODY} bytes` };
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) return { ok: true, value: {} };
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return { ok: false, status: 400, error: "request body must be a JSON object" };
    }
    return { ok: true, value: v as Body };
  } catch (e) {
    return { ok: false, status: 400, error: `request body is not JSON: ${errorMessage(e)}` };
  }
}
