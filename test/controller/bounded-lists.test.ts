import { describe, expect, it } from "vitest";
import { AuditStream } from "../../src/client/audit-stream.js";
import { mapLimit } from "../../src/controller/map-limit.js";
import { HISTORY_REPLY_BYTES, type NodeHolds } from "../../src/protocol/index.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";

/** nats-server's default max_payload: what a production cluster carries. */
const suite = controllerSuite("bounded-lists", { nats: { maxPayload: "1MB" } });

describe("issue 15 §4: history and policy replies stay under max_payload", () => {
  it("ops.history gives the newest events that fit, says it cut, and policy.list bounds its holds", async () => {
    const prefix = uniquePrefix();
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const r = await startReplica(suite.nats.url, prefix);
    suite.defer(() => r.stop());
    await waitLeader([r]);

    // 2,000 events of ~1.2 KB: 2.4 MB asked for at once.
    const audit = new AuditStream(client);
    const EVENTS = 2_000;
    await mapLimit(
      Array.from({ length: EVENTS }, (_, i) => i),
      128,
      (i) =>
        audit.publish({
          v: 1,
          kind: "node.status",
          at: 1_000 + i,
          actor: "test",
          nodeId: `node-${i}`,
          message: `${i} ${"x".repeat(1_200)}`,
        }),
    );
    const h = await client.call("ops.history", { limit: EVENTS });
    expect(h.truncated).toBe(true);
    expect(h.events.length).toBeGreaterThan(100);
    expect(h.events.length).toBeLessThan(EVENTS);
    expect(JSON.stringify(h.events).length).toBeLessThanOrEqual(HISTORY_REPLY_BYTES);
    expect(h.events[0]!.message).toMatch(/^1999 /);
    expect((await client.call("ops.history", { limit: 10 })).truncated).toBe(false);

    // 400 held nodes, each with 20 holds of 500-character reasons: ~4 MB of holds.
    const HELD = 400;
    await mapLimit(
      Array.from({ length: HELD }, (_, i) => `node-${String(i).padStart(4, "0")}`),
      64,
      (nodeId) => {
        const holds: NodeHolds = {
          v: 1,
          kind: "hold",
          nodeId,
          holds: Array.from({ length: 20 }, (_, b) => ({
            backend: `b${b}`,
            reason: "r".repeat(500),
            by: "test",
            at: 1,
          })),
        };
        return client.put("policy", `hold.${nodeId}`, holds);
      },
    );
    const p = await client.call("policy.list", {});
    expect(p.heldNodes).toBe(HELD);
    expect(p.truncated).toBe(true);
    expect(p.holds.length).toBeGreaterThan(0);
    expect(p.holds[0]!.nodeId).toBe("node-0000");
  }, 60_000);
});
