import type { ClusterClient } from "../../src/client/index.js";
import { mapLimit } from "../../src/controller/map-limit.js";
import { opKey, rolloutNodeKey, type Heartbeat } from "../../src/protocol/index.js";
import { rollout, rolloutNode } from "../dash/helpers/cluster.js";
import { heartbeat, node, op } from "./facts.js";

/**
 * A large fleet written straight into the buckets: per node a healthy record heard at `now`, one
 * succeeded op `op-<id>`, and a row of rollout `rolloutId` (which has ended, every row ok).
 */
export async function writeFleet(
  client: ClusterClient,
  ids: readonly string[],
  o: { now: number; rolloutId: string; heartbeat?: Partial<Heartbeat> },
): Promise<void> {
  const { now } = o;
  await mapLimit([...ids.entries()], 256, async ([i, id]) => {
    await client.put("nodes", id, {
      ...node(id, "healthy", { statusSince: now, firstSeenAt: now, lastHeartbeatAt: now }),
      last: heartbeat(id, { ...o.heartbeat, sentAt: now }),
    });
    const done = op(`op-${id}`, id, "llama", {
      state: "succeeded",
      createdAt: now,
      updatedAt: now,
      finishedAt: now,
    });
    await client.put("ops", opKey(id, done.id), done);
    await client.put(
      "rollout_nodes",
      rolloutNodeKey(o.rolloutId, id),
      rolloutNode(id, i, i === 0 ? 0 : 1, "ok", { rollout: o.rolloutId, at: now }),
    );
  });
  const total = ids.length;
  await client.put(
    "rollouts",
    o.rolloutId,
    rollout({ id: o.rolloutId, state: "succeeded", total, eligible: total, waves: [1, total], endedAt: now }),
  );
}
