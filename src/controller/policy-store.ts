import { isCasConflict, MalformedRecordError, type ClusterClient } from "../client/index.js";
import type { GalleryCatalog } from "../gallery/index.js";
import {
  holdKey,
  MAX_HOLDS_PER_NODE,
  parseSelector,
  pinKey,
  SCHEMA_VERSION,
  type BackendPin,
  type HoldEntry,
  type NodeHolds,
  type PolicyRecord,
} from "../protocol/index.js";
import type { Audit } from "./audit.js";
import { ApiError, badRequest, conflict, notFound } from "./errors.js";
import type { ClusterView } from "./view.js";

/** What a change makes of the record under one key: the new value, null to delete it, or "same". */
type Change<T> = (cur: T | null) => T | null | "same";

const WRITE_ATTEMPTS = 10;

/**
 * Holds and pins (the `policy` bucket), written by the API on any replica with compare-and-set,
 * each change audited. Rollouts and admission read them from the view.
 */
export class PolicyStore {
  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    private readonly audit: Audit,
    private readonly catalog: () => GalleryCatalog,
  ) {}

  async list(): Promise<{ holds: NodeHolds[]; pins: BackendPin[] }> {
    const rows = (await this.client.list("policy")).map((r) => r.value);
    return {
      holds: rows
        .filter((r): r is NodeHolds => r.kind === "hold")
        .sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
      pins: rows
        .filter((r): r is BackendPin => r.kind === "pin")
        .sort((a, b) => a.backend.localeCompare(b.backend)),
    };
  }

  /** Hold a node for one backend or all; holding again replaces the reason. */
  async hold(
    nodeId: string,
    backend: string | undefined,
    reason: string | undefined,
    actor: string,
  ): Promise<{ nodeId: string; holds: HoldEntry[] }> {
    if (!this.view.nodes.has(nodeId) && !(await this.client.get("nodes", nodeId).catch(() => null)))
      throw notFound(`unknown node ${nodeId}`, "nodeId");
    const entry: HoldEntry = {
      ...(backend ? { backend } : {}),
      ...(reason ? { reason } : {}),
      by: actor,
      at: Date.now(),
    };
    const after = await this.write<NodeHolds>(holdKey(nodeId), "hold", (cur) => {
      const others = (cur?.holds ?? []).filter((h) => h.backend !== backend);
      if (others.length >= MAX_HOLDS_PER_NODE)
        throw conflict(
          `node ${nodeId} already has ${MAX_HOLDS_PER_NODE} holds; hold it for every backend instead`,
        );
      return { v: SCHEMA_VERSION, kind: "hold", nodeId, holds: [...others, entry] };
    });
    const what = backend ? `held for ${backend}` : "held for every backend";
    void this.audit.post("node.hold", {
      actor,
      nodeId,
      ...(backend ? { backend } : {}),
      message: `${what}${reason ? `: ${reason}` : ""}`,
    });
    return { nodeId, holds: after?.holds ?? [] };
  }

  /** Release one backend's hold, or (no backend) every hold on the node; nothing held is no error. */
  async unhold(
    nodeId: string,
    backend: string | undefined,
    actor: string,
  ): Promise<{ nodeId: string; holds: HoldEntry[] }> {
    let removed = 0;
    const after = await this.write<NodeHolds>(holdKey(nodeId), "hold", (cur) => {
      if (!cur) return "same";
      const left = backend === undefined ? [] : cur.holds.filter((h) => h.backend !== backend);
      removed = cur.holds.length - left.length;
      if (removed === 0) return "same";
      return left.length === 0 ? null : { ...cur, holds: left };
    });
    if (removed > 0) {
      void this.audit.post("node.unhold", {
        actor,
        nodeId,
        ...(backend ? { backend } : {}),
        message: backend
          ? `released the hold for ${backend}`
          : `released ${removed === 1 ? "its hold" : `${removed} holds`}`,
      });
    }
    return { nodeId, holds: after?.holds ?? [] };
  }

  /** Pin a backend to a version (on the nodes a selector matches); pinning again replaces the pin. */
  async pin(
    req: { backend: string; version: string; selector?: string; reason?: string },
    actor: string,
  ): Promise<{ pin: BackendPin }> {
    if (req.selector !== undefined) {
      const s = parseSelector(req.selector);
      if (!s.ok) throw badRequest(s.error, "selector");
    }
    const cat = this.catalog();
    const known =
      !!cat.find(req.backend) ||
      cat.withAlias(req.backend).length > 0 ||
      [...this.view.inventories.values()].some((inv) => inv.backends.some((b) => b.name === req.backend));
    if (!known)
      throw notFound(
        `unknown backend ${req.backend}: not in any gallery and not installed on any node`,
        "backend",
      );
    const pin: BackendPin = {
      v: SCHEMA_VERSION,
      kind: "pin",
      backend: req.backend,
      version: req.version,
      ...(req.selector ? { selector: req.selector } : {}),
      ...(req.reason ? { reason: req.reason } : {}),
      by: actor,
      at: Date.now(),
    };
    await this.write<BackendPin>(pinKey(req.backend), "pin", () => pin);
    const where = req.selector ? ` on ${req.selector}` : "";
    void this.audit.post("backend.pin", {
      actor,
      backend: req.backend,
      message: `pinned to ${req.version}${where}${req.reason ? `: ${req.reason}` : ""}`,
    });
    return { pin };
  }

  /** Remove a backend's pin; none is no error (`pin` is then null). */
  async unpin(backend: string, actor: string): Promise<{ backend: string; pin: BackendPin | null }> {
    const seen: { pin: BackendPin | null } = { pin: null };
    await this.write<BackendPin>(pinKey(backend), "pin", (cur) => {
      seen.pin = cur;
      return cur ? null : "same";
    });
    const was = seen.pin;
    if (was) {
      void this.audit.post("backend.unpin", {
        actor,
        backend,
        message: `unpinned (was ${was.version}${was.selector ? ` on ${was.selector}` : ""})`,
      });
    }
    return { backend, pin: was };
  }

  /**
   * Compare-and-set on one key; a malformed value counts as absent (the API owns these keys and
   * writes over it). Returns the value now stored, null when there is none.
   */
  private async write<T extends PolicyRecord>(
    key: string,
    kind: T["kind"],
    change: Change<T>,
  ): Promise<T | null> {
    for (let i = 0; i < WRITE_ATTEMPTS; i++) {
      let cur: T | null = null;
      let revision = 0;
      try {
        const e = await this.client.get("policy", key);
        if (e && e.value.kind === kind) {
          cur = e.value as T;
          revision = e.revision;
        } else if (e) revision = e.revision;
      } catch (e) {
        if (!(e instanceof MalformedRecordError)) throw e;
        this.client.reportMalformed("policy", e.key, e.revision, e.reason);
        revision = e.revision;
      }
      const next = change(cur);
      if (next === "same") return cur;
      try {
        if (next === null) await this.client.delete("policy", key, revision);
        else if (revision === 0) await this.client.create("policy", key, next);
        else await this.client.update("policy", key, next, revision);
        return next;
      } catch (e) {
        if (isCasConflict(e)) continue;
        throw e;
      }
    }
    throw new ApiError("unavailable", `${key} keeps changing; try again`);
  }
}
