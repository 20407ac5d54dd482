import { beforeAll, describe, expect, it } from "vitest";
import { installed, inventory, node } from "./facts.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader, writeGallery } from "./cluster.js";
import { mapLimit } from "../../src/controller/map-limit.js";
import { findableOps, REPLY_ROWS } from "../../src/protocol/index.js";
import type { ClusterClient } from "../../src/client/index.js";

/** Twice what a request may name: only a selector or omission reaches every node. */
const NODES = 20_000;
/** nats-server's own default: what a cluster runs unless told otherwise. */
const MAX_PAYLOAD = 1024 * 1024;

// Not the demo's 4MB: that would hide every message between 1 and 4 MB.
const suite = controllerSuite("fleet-requests", { nats: { maxPayload: "1MB" } });

const ids = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(5, "0")}`);
const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x));

describe(`issue 15 §4: requests and replies that name every node, at ${NODES} nodes and a 1 MB max payload`, () => {
  let client: ClusterClient;

  beforeAll(async () => {
    const prefix = uniquePrefix();
    const galleryPath = await writeGallery(
      suite.dir,
      `
- name: llama
  uri: 127.0.0.1:5999/llama:latest
  version: "2.0.0"
`,
      `${prefix}.yaml`,
    );
    client = await connect(suite.nats.url, prefix);
    // The premise: a server that refuses anything past 1 MB (a reply too big never arrives).
    expect(client.nc.info?.max_payload).toBe(MAX_PAYLOAD);
    // Node records as the health monitor writes them (fresh, healthy), and every node runs llama 1.0.0.
    const now = Date.now();
    await mapLimit(ids, 256, async (id) => {
      const n = node(id, "healthy", { lastHeartbeatAt: now, statusSince: now });
      n.last.labels = { pool: "main", gpu: id.endsWith("0") ? "h100" : "a100" };
      await Promise.all([
        client.put("nodes", id, n),
        client.put("inventory", id, inventory(id, [installed("llama", { version: "1.0.0" })])),
      ]);
    });
    const r = await startReplica(suite.nats.url, prefix, {
      galleryPath,
      // Nothing heartbeats here: keep every node healthy for the whole file.
      timings: {
        healthTickMs: 5_000,
        health: { heartbeatIntervalMs: 600_000, offlineAfterMs: 3_600_000 },
        reap: { offlineGraceMs: 3_600_000, staleOpMs: 3_600_000, orphanAfterMs: 3_600_000 },
      },
    });
    await waitLeader([r]);
    return async () => {
      await r.stop();
      await client.close();
    };
  }, 120_000);

  it("rollouts.plan over every node: all planned, the first listed, under the max payload", async () => {
    const { plan } = await client.call("rollouts.plan", { backend: "llama" }, 60_000);
    expect(plan.waveSizes.reduce((a, b) => a + b, 0)).toBe(NODES);
    expect(plan.skippedCount).toBe(0);
    expect(plan.from).toEqual([{ version: "1.0.0", nodes: NODES }]);
    expect(plan.to).toEqual([{ version: "2.0.0", nodes: NODES }]);
    expect(plan.truncated).toBe(true);
    expect(plan.waves.flat().length).toBeLessThanOrEqual(REPLY_ROWS);
    // Every wave names some of its nodes, the first wave its only one.
    expect(plan.waves[0]!.map((m) => m.nodeId)).toEqual(["node-00000"]);
    for (const w of plan.waves) expect(w.length).toBeGreaterThan(0);
    expect(bytes(plan)).toBeLessThan(MAX_PAYLOAD);
    console.log(`rollouts.plan over ${NODES} nodes: reply ${bytes(plan)} bytes`);
  }, 60_000);

  it("gallery.resolve over every node: counted by capability, the first listed", async () => {
    const r = await client.call("gallery.resolve", { backend: "llama" }, 60_000);
    expect(r.total).toBe(NODES);
    expect(r.byCapability).toEqual([{ capability: "default", nodes: NODES, concrete: "llama" }]);
    expect(r.truncated).toBe(true);
    expect(r.nodes.length).toBeGreaterThan(0);
    expect(r.nodes.length).toBeLessThanOrEqual(REPLY_ROWS);
    expect(bytes(r)).toBeLessThan(MAX_PAYLOAD);
    console.log(`gallery.resolve over ${NODES} nodes: reply ${bytes(r)} bytes`);
  }, 60_000);

  it("an upgrade of every node, by omission then by selector: all admitted, none refused, replies bounded", async () => {
    const all = await client.call("ops.upgrade", { backend: "llama", actor: "fleet-test" }, 60_000);
    expect(all.counts).toEqual({ admitted: NODES, existing: 0, refused: 0 });
    expect(all.truncated).toBe(true);
    expect(all.admitted.length).toBeGreaterThan(0);
    expect(all.admitted.length).toBeLessThanOrEqual(REPLY_ROWS);
    expect(all.refused).toEqual([]);
    expect(bytes(all)).toBeLessThan(MAX_PAYLOAD);
    // What the unbounded reply would have been: every row listed.
    const whole = bytes(all.admitted) * (NODES / all.admitted.length);
    console.log(
      `ops.upgrade of ${NODES} nodes: reply ${bytes(all)} bytes (every row: ~${Math.round(whole)})`,
    );

    // Every op was written, and every one is found by the batch's id prefix.
    // Every op was written (one record each: nothing runs them here), and one not listed is
    // found by the batch's id prefix: node i's op is `<batch>-<i in base 36>`.
    expect((await client.bucket("ops").status()).values).toBe(NODES);
    for (const i of [0, 12_345, NODES - 1]) {
      const op = await client.get("ops", `${ids[i]}.${all.batch}-${i.toString(36)}`);
      expect(op?.value).toMatchObject({ nodeId: ids[i], kind: "upgrade", state: "queued" });
    }

    // The same by selector: every node matches, and each already has its op (handed back, not doubled).
    const again = await client.call(
      "ops.upgrade",
      { backend: "llama", selector: "pool=main", actor: "fleet-test" },
      60_000,
    );
    expect(again.counts).toEqual({ admitted: NODES, existing: NODES, refused: 0 });
    expect(again.admitted.every((a) => a.existing)).toBe(true);
    // Past the listed rows an existing op has no batch id: a caller knows it cannot wait for those.
    expect(findableOps(again)).toEqual({
      total: again.admitted.length,
      unlisted: NODES - again.admitted.length,
    });
    expect(bytes(again)).toBeLessThan(MAX_PAYLOAD);
    expect((await client.bucket("ops").status()).values).toBe(NODES);
  }, 120_000);

  it("nodes and a selector together are a bad request", async () => {
    await expect(
      client.call("ops.upgrade", { backend: "llama", nodes: ["node-00001"], selector: "pool=main" }),
    ).rejects.toMatchObject({ code: "bad_request", field: "selector" });
  });
});
