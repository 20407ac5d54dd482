import { beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { getRolloutWithNodes, listAllNodes, listAllOps } from "../../src/client/index.js";
import { mapLimit } from "../../src/controller/map-limit.js";
import { CONTROLLER_LEASE_KEY, holdKey, opKey, type NodeHolds } from "../../src/protocol/index.js";
import { connect, controllerSuite, startReplica, uniquePrefix, type Replica } from "./cluster.js";
import { writeFleet } from "./fleet-records.js";

/** Twice the fleet issue 15 plans for: one unpaged reply of any of these lists would be ~10 MB. */
const NODES = 20_000;
/** nats-server's own default max_payload, not the demo's 4 MB. */
const ONE_MB = 1024 * 1024;

const suite = controllerSuite("list-paging", { nats: { maxPayload: "1MB" } });

const ids = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(5, "0")}`);
const ROLLOUT = "ro-abc-0001";
/** Holds on three nodes and on two ids no node has, one before every node id and one after. */
const HELD = ["a-gone", "node-00000", "node-10000", "node-19999", "zz-gone"];

let client: ClusterClient;
let replica: Replica;

/** Every page of a list in turn, following `next`, each checked to fit the server's max_payload. */
async function pages<R extends { next?: C }, C extends string | number>(
  get: (after: C | undefined) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  let after: C | undefined;
  do {
    const page = await get(after);
    expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(ONE_MB);
    out.push(page);
    after = page.next;
  } while (after !== undefined);
  return out;
}

describe(`issue 15 §4: lists page at ${NODES} nodes through a 1 MB max_payload server`, () => {
  beforeAll(async () => {
    const prefix = uniquePrefix();
    client = await connect(suite.nats.url, prefix, "test", 10 * 60_000);
    const now = Date.now();
    const labels = { zone: "eu-west-1a", gpu: "h100", rack: "r12" };
    await writeFleet(client, ids, {
      now,
      rolloutId: ROLLOUT,
      heartbeat: { labels, gpu: { vendor: "nvidia", model: "H100", vramBytes: 8e10 } },
    });
    await mapLimit(HELD, 8, (nodeId) =>
      client.put("policy", holdKey(nodeId), {
        v: 1,
        kind: "hold",
        nodeId,
        holds: [{ by: "test", at: now, reason: "paging test" }],
      } satisfies NodeHolds),
    );
    // The lease is held elsewhere for the whole test: the replica serves the API only (a leading
    // replica at this size is lease-scale.test.ts).
    await client.create("leases", CONTROLLER_LEASE_KEY, {
      v: 1,
      holder: "elsewhere",
      since: now,
      renewedAt: now,
    });
    replica = await startReplica(suite.nats.url, prefix, {});
    return async () => {
      await replica.stop();
      await client.close();
    };
  }, 120_000);

  it("runs against a server that takes 1 MB at most", () => {
    expect(client.nc.info?.max_payload).toBe(ONE_MB);
  });

  it("nodes.list: every node exactly once, in order, and every hold on the page of its id", async () => {
    const got = await pages((after: string | undefined) =>
      client.call("nodes.list", after === undefined ? {} : { after }, 20_000),
    );
    const listed = got.flatMap((p) => p.nodes.map((n) => n.id));
    expect(listed).toHaveLength(NODES);
    expect(listed).toEqual(ids);
    expect(got.length).toBeGreaterThanOrEqual(NODES / 1_000);
    expect(got.every((p) => p.total === NODES + 2)).toBe(true);
    expect(got.flatMap((p) => p.holds.map((h) => h.nodeId))).toEqual(HELD);
    // A hold travels with its node: on the same page.
    for (const p of got) {
      const onPage = new Set(p.nodes.map((n) => n.id));
      for (const h of p.holds) if (!h.nodeId.endsWith("gone")) expect(onPage.has(h.nodeId)).toBe(true);
    }
    const all = await listAllNodes(client, 20_000);
    expect(all.nodes.map((n) => n.id)).toEqual(ids);
    expect(all.holds.map((h) => h.nodeId)).toEqual(HELD);
    expect(all).not.toHaveProperty("next");
  }, 60_000);

  it("ops.list: every op exactly once, and a page of a filter totals what the filter matches", async () => {
    const got = await pages((after: string | undefined) =>
      client.call("ops.list", { all: true, ...(after === undefined ? {} : { after }) }, 20_000),
    );
    const keys = got.flatMap((p) => p.ops.map((o) => opKey(o.nodeId, o.id)));
    expect(keys).toHaveLength(NODES);
    expect(new Set(keys).size).toBe(NODES);
    expect(keys).toEqual([...keys].sort());
    expect(got[0]!.total).toBe(NODES);
    // Finished ops are not active: the default list has none.
    expect(await client.call("ops.list", {})).toEqual({ ops: [], total: 0 });
    const one = await listAllOps(client, { all: true, nodeId: "node-00042" });
    expect(one.ops.map((o) => o.id)).toEqual(["op-node-00042"]);
    expect((await listAllOps(client, { all: true })).ops).toHaveLength(NODES);
  }, 60_000);

  it("rollouts.get: the rollout with every node by position, or alone with limit 0", async () => {
    const got = await pages((after: number | undefined) =>
      client.call("rollouts.get", { id: ROLLOUT, ...(after === undefined ? {} : { after }) }, 20_000),
    );
    expect(got.length).toBeGreaterThan(1);
    const positions = got.flatMap((p) => p.nodes.map((n) => n.i));
    expect(positions).toEqual(ids.map((_, i) => i));
    expect(got.every((p) => p.rollout.id === ROLLOUT && p.total === NODES)).toBe(true);
    const alone = await client.call("rollouts.get", { id: ROLLOUT, limit: 0 });
    expect(alone).toEqual({ rollout: expect.objectContaining({ id: ROLLOUT }), nodes: [], total: NODES });
    expect((await getRolloutWithNodes(client, ROLLOUT)).nodes.map((n) => n.node)).toEqual(ids);
  }, 60_000);
});
