import type { ClusterClient } from "../client/index.js";
import {
  takePage,
  type ApiResult,
  type NodeHolds,
  type NodeRecord,
  type UnreadableNode,
} from "../protocol/index.js";
import type { Audit } from "./audit.js";
import { applyAdminAction, type AdminAction, type HealthRules } from "./decide/health.js";
import { conflict, notFound, unavailableWhenContended } from "./errors.js";
import type { Operations } from "./operations.js";
import { LIST_MIRROR_WAIT_MS, type ClusterView } from "./view.js";

interface NodeRow {
  id: string;
  node?: NodeRecord;
  unreadable?: UnreadableNode;
  holds?: NodeHolds;
}

/** Approve, drain and resume nodes (any replica; compare-and-set against the health monitor). */
export class NodeAdmin {
  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    private readonly ops: Operations,
    private readonly audit: Audit,
    private readonly rules: () => HealthRules,
  ) {}

  /**
   * A page of node ids in order, each with its record, or why the record does not validate
   * (shown as unreadable, not dropped), and its holds. A held id with no node record is a row
   * too, so every hold is on exactly one page and a page's holds are bounded by its `limit`.
   */
  async list(q: { limit: number; after?: string }): Promise<ApiResult<"nodes.list">> {
    const [{ rows, unreadable }, holds] = await Promise.all([
      this.view.listed("nodes", "", LIST_MIRROR_WAIT_MS).then((l) => l ?? this.client.listAll("nodes")),
      this.holds(),
    ]);
    const byId = new Map<string, NodeRow>();
    const row = (id: string): NodeRow => {
      let r = byId.get(id);
      if (!r) byId.set(id, (r = { id }));
      return r;
    };
    for (const r of rows) row(r.value.id).node = r.value;
    for (const u of unreadable) row(u.key).unreadable = { id: u.key, error: u.error.slice(0, 1024) };
    for (const h of holds) row(h.nodeId).holds = h;
    const page = takePage([...byId.values()], (r) => r.id, q);
    return {
      nodes: page.rows.flatMap((r) => (r.node ? [r.node] : [])),
      unreadable: page.rows.flatMap((r) => (r.unreadable ? [r.unreadable] : [])),
      holds: page.rows.flatMap((r) => (r.holds ? [r.holds] : [])),
      total: page.total,
      ...(page.next === undefined ? {} : { next: page.next }),
    };
  }

  /** Every node's holds, from this replica's copy when it is current. */
  private async holds(): Promise<NodeHolds[]> {
    const rows =
      (await this.view.listed("policy", "hold.", LIST_MIRROR_WAIT_MS))?.rows ??
      (await this.client.list("policy"));
    return rows.map((r) => r.value).filter((p): p is NodeHolds => p.kind === "hold");
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
