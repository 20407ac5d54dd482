import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import { isLoopbackHost } from "../oci/reference.js";
import type { ApiEnvelope, ApiErrorCode, ApiMethod, ApiResult } from "../protocol/index.js";
import type { ApiHandlers } from "./api-handlers.js";
import type { EventStream } from "./events-ws.js";

export interface HttpApiOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** Bearer token every request must carry; required to bind beyond loopback. */
  token?: string;
  /** Each gallery's load status (`GET /api/galleries`): what is in use and why a reload failed. */
  galleries?: () => unknown[];
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
  route("GET", "/api/nodes", "nodes.list", () => ({})),
  ...(["drain", "resume", "approve"] as const).map((verb) =>
    route("POST", `/api/nodes/:id/${verb}`, `nodes.${verb}`, (p, _q, b) => ({ ...b, nodeId: p.id })),
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

function tokenMatches(expected: string, header: string | undefined): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const a = createHash("sha256").update(m[1]!.trim()).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen.trim());
  if (!m) throw new Error(`--http must be host:port, got ${JSON.stringify(listen)}`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--http port out of range: ${port}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/**
 * The same handlers over HTTP/JSON with bearer-token auth. Binding beyond loopback without a
 * token is refused, so the API is never open to the network by accident.
 */
export class HttpApi {
  private server?: Server;
  private readonly log: Logger;

  constructor(
    private readonly handlers: ApiHandlers,
    private readonly events: EventStream,
    private readonly opts: HttpApiOptions,
  ) {
    this.log = opts.telemetry.log;
  }

  async start(): Promise<{ host: string; port: number; url: string }> {
    const { host, port } = parseListen(this.opts.listen);
    if (!this.opts.token && !isLoopbackHost(host)) {
      throw new Error(
        `refusing to serve HTTP on ${host} without --token: only loopback may be unauthenticated`,
      );
    }
    const server = createServer((req, res) => void this.serve(req, res));
    server.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://x");
      const bearer =
        req.headers.authorization ??
        (url.searchParams.get("token") ? `Bearer ${url.searchParams.get("token")}` : undefined);
      if (url.pathname !== "/api/events") {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n");
        return;
      }
      if (this.opts.token && !tokenMatches(this.opts.token, bearer)) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n");
        return;
      }
      this.events.handleUpgrade(req, socket, head, bool(url.searchParams.get("snapshot")) ?? false);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    return { host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
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
      if (this.opts.token && !tokenMatches(this.opts.token, req.headers.authorization)) {
        res.setHeader("www-authenticate", 'Bearer realm="backplane"');
        return this.fail(res, "unauthorized", "missing or wrong bearer token");
      }
      const url = new URL(req.url ?? "/", "http://x");
      const method = req.method ?? "GET";
      let body: Body = {};
      if (method === "POST" || method === "PUT") {
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
      const env = await this.handlers.handle(apiMethod, stripUndefined(request), { defaultActor });
      if (!env.ok) return this.send(res, STATUS[env.error.code], env);
      if ((ADMIT as readonly string[]).includes(apiMethod))
        return this.sendAdmission(res, env.data as AdmitData);
      this.send(res, 200, env);
    } catch (e) {
      this.log.error("HTTP request failed", { url: req.url, error: errorMessage(e) });
      if (!res.headersSent) this.fail(res, "internal", errorMessage(e));
    }
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
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

type AdmitData = ApiResult<"ops.install">;

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
