import { Limiter, LimiterFullError } from "../lib/limiter.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { isMeta, type GalleryCatalog } from "../gallery/index.js";
import {
  api,
  API_WRITES,
  describeZodError,
  firstRows,
  HISTORY_REPLY_BYTES,
  IDEMPOTENCY_HEADER,
  IdempotencyKey,
  isApiMethod,
  zodErrorField,
  type ApiEnvelope,
  type ApiMethod,
  type ApiResult,
  type GalleryEntrySummary,
  type NodeResolution,
} from "../protocol/index.js";
import type { z } from "zod";
import type { Audit } from "./audit.js";
import { ApiError } from "./errors.js";
import { boundedResolutions } from "./resolve-reply.js";
import type { ControllerTelemetry } from "./metrics.js";
import type { NodeAdmin } from "./node-admin.js";
import type { PolicyStore } from "./policy-store.js";
import type { RequestDedupe } from "./request-dedupe.js";
import type { Operations } from "./operations.js";
import type { Rollouts } from "./rollouts.js";
import type { SettingsStore } from "./settings-store.js";
import type { UpgradeChecker } from "./upgrade-checker.js";
import { LIST_MIRROR_WAIT_MS, type ClusterView } from "./view.js";
import { isTransientJetStream, type ClusterClient } from "../client/index.js";

export interface ApiContext {
  /** Who is asking when the request does not say (`http`, `nats`). */
  defaultActor: string;
  /** The request's IDEMPOTENCY_HEADER: a write is applied once per (method, key). */
  idempotencyKey?: string;
}

export interface ApiDeps {
  client: ClusterClient;
  view: ClusterView;
  ops: Operations;
  nodes: NodeAdmin;
  settings: SettingsStore;
  checker: UpgradeChecker;
  rollouts: Rollouts;
  policy: PolicyStore;
  audit: Audit;
  catalog: () => GalleryCatalog;
  telemetry: ControllerTelemetry;
  /** Keyed writes applied once; without it the key is ignored. */
  dedupe?: RequestDedupe;
  /** Requests handled at once, and how many more may wait (beyond that: `unavailable`). */
  limits?: { concurrent: number; queued: number };
}

/** Enough for many clients at once; small enough that requests cannot crowd out the leader's loops. */
export const API_LIMITS = { concurrent: 16, queued: 1_000 };

type Req<M extends ApiMethod> = z.infer<(typeof api)[M]["req"]>;
type Handlers = { [M in ApiMethod]: (req: Req<M>, actor: string) => Promise<ApiResult<M>> };

/**
 * The controller API, one function per method, shared by the NATS and HTTP front ends. Every
 * request is validated first; a bad one is answered with `bad_request` and the field at fault.
 */
export class ApiHandlers {
  private readonly log: Logger;
  private readonly h: Handlers;
  private readonly limiter: Limiter;

  constructor(private readonly d: ApiDeps) {
    this.log = d.telemetry.log;
    const limits = d.limits ?? API_LIMITS;
    this.limiter = new Limiter(limits.concurrent, limits.queued);
    const { ops, nodes, settings, checker, audit, client, rollouts, policy } = d;
    const force = (r: { force?: boolean }) => (r.force ? { force: true } : {});
    const where = (r: { nodes?: string[]; selector?: string }) => ({
      nodes: r.nodes,
      ...(r.selector !== undefined ? { selector: r.selector } : {}),
    });
    this.h = {
      "ops.install": (r, actor) =>
        ops.admit({
          kind: "install",
          backend: r.backend,
          ...where(r),
          source: r.source,
          actor,
          ...force(r),
        }),
      "ops.upgrade": (r, actor) =>
        ops.admit({ kind: "upgrade", backend: r.backend, ...where(r), actor, ...force(r) }),
      "ops.reinstall": (r, actor) =>
        ops.admit({ kind: "reinstall", backend: r.backend, ...where(r), actor, ...force(r) }),
      "ops.delete": (r, actor) =>
        ops.admit({ kind: "delete", backend: r.backend, ...where(r), actor, ...force(r) }),
      "ops.rollback": (r, actor) =>
        ops.admit({
          kind: "rollback",
          backend: r.backend,
          ...where(r),
          generation: r.generation,
          actor,
          ...force(r),
        }),
      "ops.cancel": async (r, actor) => ({ op: await ops.cancel(r.opId, actor) }),
      "ops.dismiss": async (r, actor) => ({ op: await ops.dismiss(r.opId, actor) }),
      "ops.retry": async (r, actor) => ({ op: await ops.retry(r.opId, actor) }),
      "ops.get": async (r) => ({ op: (await ops.getOp(r.opId)).value }),
      "ops.list": (r) => ops.list(r),
      "ops.history": async (r) => {
        const { rows, cut } = firstRows(await audit.history(r), r.limit, HISTORY_REPLY_BYTES);
        return { events: rows, truncated: cut };
      },
      "upgrades.list": async () => ({
        upgrades: (
          (await d.view.listed("upgrades", "", LIST_MIRROR_WAIT_MS))?.rows ?? (await client.list("upgrades"))
        )
          .map((s) => s.value)
          .sort((a, b) => a.backend.localeCompare(b.backend)),
      }),
      "upgrades.check": (_r, actor) => checker.checkNow(actor),
      "settings.get": async () => ({ settings: await settings.get() }),
      "settings.set": async ({ actor: _a, ...change }, actor) => ({
        settings: await settings.set(change, actor),
      }),
      "nodes.list": (r) => nodes.list(r),
      "nodes.approve": async (r, actor) => ({ node: await nodes.act(r.nodeId, "approve", actor, r.reason) }),
      "nodes.drain": async (r, actor) => ({ node: await nodes.act(r.nodeId, "drain", actor, r.reason) }),
      "nodes.resume": async (r, actor) => ({ node: await nodes.act(r.nodeId, "resume", actor, r.reason) }),
      "nodes.hold": (r, actor) => policy.hold(r.nodeId, r.backend, r.reason, actor),
      "nodes.unhold": (r, actor) => policy.unhold(r.nodeId, r.backend, actor),
      "backends.pin": (r, actor) => policy.pin(r, actor),
      "backends.unpin": (r, actor) => policy.unpin(r.backend, actor),
      "policy.list": async () => {
        const { holds, pins } = await policy.list();
        const { rows, cut } = firstRows(holds);
        return { holds: rows, pins, heldNodes: holds.length, truncated: cut };
      },
      "rollouts.plan": async (r) => rollouts.dryRun(r),
      "rollouts.start": (r, actor) => rollouts.start(r, actor),
      "rollouts.list": async (r) => rollouts.list(r.all),
      "rollouts.get": (r) => rollouts.get(r),
      "rollouts.pause": (r, actor) => rollouts.act(r.id, "pause", actor, r.reason),
      "rollouts.resume": (r, actor) => rollouts.act(r.id, "resume", actor),
      "rollouts.promote": (r, actor) => rollouts.act(r.id, "promote", actor),
      "rollouts.abort": (r, actor) => rollouts.act(r.id, "abort", actor),
      "rollouts.dismiss": (r, actor) => rollouts.act(r.id, "dismiss", actor),
      "gallery.list": async () => ({ entries: this.galleryList() }),
      "gallery.resolve": async (r) => ({
        backend: r.backend,
        ...boundedResolutions(this.galleryResolve(r.backend, r.nodes)),
        capabilities: r.capabilities?.map((c) => this.d.catalog().describe(r.backend, c)),
      }),
    };
  }

  /**
   * Validate and run one request. At most `limits.concurrent` run at once (the rest wait their
   * turn), so no caller can take the event loop the leader's duties share.
   */
  async handle(method: string, body: unknown, ctx: ApiContext): Promise<ApiEnvelope> {
    const started = performance.now();
    const env = await this.limited(method, body, ctx);
    this.d.telemetry.metrics?.apiRequest(
      method,
      env.ok ? "ok" : env.error.code,
      (performance.now() - started) / 1000,
    );
    return env;
  }

  private async limited(method: string, body: unknown, ctx: ApiContext): Promise<ApiEnvelope> {
    try {
      return await this.limiter.run(() => this.dispatch(method, body, ctx));
    } catch (e) {
      if (!(e instanceof LimiterFullError)) throw e;
      return {
        ok: false,
        error: { code: "unavailable", message: "too many API requests waiting; try again shortly" },
      };
    }
  }

  private async dispatch(method: string, body: unknown, ctx: ApiContext): Promise<ApiEnvelope> {
    if (!isApiMethod(method)) {
      return { ok: false, error: { code: "not_found", message: `no API method ${JSON.stringify(method)}` } };
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      const got = body === null ? "null" : Array.isArray(body) ? "an array" : typeof body;
      return {
        ok: false,
        error: {
          code: "bad_request",
          message: `invalid ${method} request: the body must be an object, not ${got}`,
        },
      };
    }
    const parsed = api[method].req.safeParse(body);
    if (!parsed.success) {
      return {
        ok: false,
        error: {
          code: "bad_request",
          message: `invalid ${method} request: ${describeZodError(parsed.error)}`,
          field: zodErrorField(parsed.error),
        },
      };
    }
    const req = parsed.data as { actor?: string };
    const actor = req.actor || ctx.defaultActor;
    const key = ctx.idempotencyKey;
    if (key === undefined || !API_WRITES.has(method) || !this.d.dedupe)
      return this.run(method, parsed.data, actor);
    if (!IdempotencyKey.safeParse(key).success) {
      return {
        ok: false,
        error: {
          code: "bad_request",
          message: `invalid ${IDEMPOTENCY_HEADER} ${JSON.stringify(key.slice(0, 80))}: 8 to 64 of A-Z a-z 0-9 _ -`,
          field: IDEMPOTENCY_HEADER,
        },
      };
    }
    return this.d.dedupe.once(method, key, () => this.run(method, parsed.data, actor));
  }

  private async run(method: ApiMethod, request: unknown, actor: string): Promise<ApiEnvelope> {
    try {
      const run = this.h[method] as (r: unknown, actor: string) => Promise<unknown>;
      return { ok: true, data: await run(request, actor) };
    } catch (e) {
      if (e instanceof ApiError) {
        return {
          ok: false,
          error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) },
        };
      }
      if (isTransientJetStream(e)) {
        // No stream leader for now (an election after a server loss): the caller may ask again.
        this.log.warn("API handler met a transient JetStream error", { method, error: errorMessage(e) });
        return {
          ok: false,
          error: {
            code: "unavailable",
            message: `${method}: JetStream unavailable for now: ${errorMessage(e)}`,
          },
        };
      }
      this.log.error("API handler failed", { method, error: errorMessage(e) });
      return { ok: false, error: { code: "internal", message: `${method} failed: ${errorMessage(e)}` } };
    }
  }

  private galleryList(): GalleryEntrySummary[] {
    const cat = this.d.catalog();
    const seen = new Set<string>();
    const out: GalleryEntrySummary[] = [];
    for (const e of cat.entries) {
      if (seen.has(e.name.toLowerCase())) continue;
      seen.add(e.name.toLowerCase());
      out.push({
        name: e.name,
        gallery: e.gallery,
        kind: isMeta(e) ? "meta" : "concrete",
        alias: e.alias,
        development: cat.isDevelopment(e.name),
        description: e.description?.slice(0, 1024),
        uri: e.uri,
        version: e.version,
        capabilities: isMeta(e) ? e.capabilities : undefined,
      });
    }
    return out;
  }

  private galleryResolve(backend: string, nodeIds?: string[]): NodeResolution[] {
    const cat = this.d.catalog();
    if (!cat.find(backend) && cat.withAlias(backend).length === 0) {
      throw new ApiError("not_found", `unknown backend ${backend}: not in any gallery`, "backend");
    }
    const ids = nodeIds ?? [...this.d.view.nodes.keys()].sort();
    return ids.map((nodeId) => {
      const node = this.d.view.nodes.get(nodeId)?.value;
      if (!node) return { nodeId, error: `unknown node ${nodeId}` };
      const capability = node.last.capability;
      const r = cat.resolve(backend, capability);
      return r.ok
        ? { nodeId, capability, concrete: r.concrete.name }
        : { nodeId, capability, error: r.error };
    });
  }
}
