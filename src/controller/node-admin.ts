import type { ClusterClient } from "../client/index.js";
import type { NodeRecord } from "../protocol/index.js";
import type { Audit } from "./audit.js";
import { applyAdminAction, type AdminAction, type HealthRules } from "./decide/health.js";
import { ApiError, conflict, isCasConflict, notFound } from "./errors.js";
import type { Operations } from "./operations.js";
import { snapshot } from "./snapshot.js";

/** Approve, drain and resume nodes (any replica; compare-and-set against the health monitor). */
export class NodeAdmin {
  constructor(
    private readonly client: ClusterClient,
    private readonly ops: Operations,
    private readonly audit: Audit,
    private readonly rules: () => HealthRules,
  ) {}

  async list(): Promise<NodeRecord[]> {
    return (await snapshot(this.client, "nodes"))
      .map((s) => s.value)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async act(nodeId: string, action: AdminAction, actor: string, reason?: string): Promise<NodeRecord> {
    for (let i = 0; i < 10; i++) {
      const cur = await this.client.get("nodes", nodeId);
      if (!cur) throw notFound(`unknown node ${nodeId}`, "nodeId");
      const r = applyAdminAction(cur.value, action, Date.now(), this.rules(), reason);
      if (!r.ok) throw conflict(r.error, "nodeId");
      if (!r.changed) return r.record;
      try {
        await this.client.update("nodes", nodeId, r.record, cur.revision);
      } catch (e) {
        if (isCasConflict(e)) continue;
        throw e;
      }
      void this.audit.post("node.status", {
        actor,
        nodeId,
        message: `${action}: ${cur.value.status} -> ${r.record.status}${reason ? ` (${reason})` : ""}`,
      });
      if (r.record.status === "draining") {
        await this.ops.dropQueued(nodeId, `node ${nodeId} is draining; queued work dropped`, actor);
      }
      return r.record;
    }
    throw new ApiError("unavailable", `node ${nodeId} keeps changing; try again`);
  }
}
