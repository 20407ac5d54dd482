import type { ClusterClient } from "../client/index.js";
import type { NodeRecord, UnreadableNode } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import { applyAdminAction, type AdminAction, type HealthRules } from "./decide/health.js";
import { conflict, notFound, unavailableWhenContended } from "./errors.js";
import type { Operations } from "./operations.js";
import { LIST_MIRROR_WAIT_MS, type ClusterView } from "./view.js";

/** Approve, drain and resume nodes (any replica; compare-and-set against the health monitor). */
export class NodeAdmin {
  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    private readonly ops: Operations,
    private readonly audit: Audit,
    private readonly rules: () => HealthRules,
  ) {}

  /** Every node, and the ids whose record does not validate (shown as unreadable, not dropped). */
  async list(): Promise<{ nodes: NodeRecord[]; unreadable: UnreadableNode[] }> {
    const { rows, unreadable } =
      (await this.view.listed("nodes", "", LIST_MIRROR_WAIT_MS)) ?? (await this.client.listAll("nodes"));
    return {
      nodes: rows.map((s) => s.value).sort((a, b) => a.id.localeCompare(b.id)),
      unreadable: unreadable
        .map((u) => ({ id: u.key, error: u.error.slice(0, 1024) }))
        .sort((a, b) => a.id.localeCompare(b.id)),
    };
  }

  async act(nodeId: string, action: AdminAction, actor: string, reason?: string): Promise<NodeRecord> {
    let before: NodeRecord | undefined;
    const apply = (cur: NodeRecord): NodeRecord | null => {
      const r = applyAdminAction(cur, action, Date.now(), this.rules(), reason);
      if (!r.ok) throw conflict(r.error, "nodeId");
      before = cur;
      return r.changed ? r.record : null;
    };
    const written = await this.client
      .modify("nodes", nodeId, apply)
      .catch(unavailableWhenContended(`node ${nodeId}`));
    if (!written || !before) throw notFound(`unknown node ${nodeId}`, "nodeId");
    const after = written.value;
    if (after === before) return after;
    void this.audit.post("node.status", {
      actor,
      nodeId,
      message: `${action}: ${before.status} -> ${after.status}${reason ? ` (${reason})` : ""}`,
    });
    if (after.status === "draining") {
      await this.ops.dropQueued(nodeId, `node ${nodeId} is draining; queued work dropped`, actor);
    }
    return after;
  }
}
