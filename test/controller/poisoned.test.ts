import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { opKey, SETTINGS_KEY, type OpRecord } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const GALLERY = `
- name: bar
  uri: 127.0.0.1:5999/bar:latest
`;

const suite = controllerSuite("poisoned", { gallery: GALLERY });

async function env() {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const r = await startReplica(suite.nats.url, prefix, { galleryPath: suite.galleryPath });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const node = async (id: string, work = true) => {
    const n = new FakeNode(client, { nodeId: id, heartbeatMs: 100 });
    await n.start({ work });
    suite.defer(() => n.stop());
    await waitFor(`node ${id} registered`, () => client.get("nodes", id).catch(() => null));
    return n;
  };
  return { client, r, node };
}

/** What a buggy writer or a manual `nats kv put` leaves: a value no schema accepts. */
async function poison(client: ClusterClient, bucket: "ops" | "nodes" | "settings", key: string) {
  return client.bucket(bucket).put(key, new TextEncoder().encode('{"v":1,"garbage":true}'));
}

function queuedOp(nodeId: string, id: string, now: number): OpRecord {
  return {
    v: 1,
    id,
    nodeId,
    kind: "install",
    backend: "bar",
    target: { name: "bar", uri: "127.0.0.1:5999/bar:latest", mirrors: [] },
    state: "queued",
    requestedBy: "ghost",
    createdAt: now,
    updatedAt: now,
    attempts: 0,
    dismissed: false,
  };
}

describe("a malformed record stops no loop and can be repaired by its owner", () => {
  it("the reaper skips an op record that turned malformed and still re-publishes a real orphan", async () => {
    const { client, r, node } = await env();
    const n = await node("n1");
    await node("a0", false); // known to the reaper, so its queued op is an orphan candidate
    await r.ctl.reaper.pass();
    const now = Date.now();
    // Seen valid by the mirror first, then overwritten with garbage (the mirror's copy is stale).
    const bad = queuedOp("a0", "op-bad", now);
    await client.create("ops", opKey("a0", bad.id), bad);
    await waitFor("mirror saw it", () => r.ctl.view.ops.has(opKey("a0", bad.id)));
    await poison(client, "ops", opKey("a0", bad.id));
    const orphan = queuedOp("n1", "op-orphan", now);
    await client.create("ops", opKey("n1", orphan.id), orphan);
    await waitFor(
      "orphan ran",
      async () => (await client.get("ops", opKey("n1", orphan.id)))?.value.state === "succeeded",
      10_000,
    );
    expect(n.ran).toContain(orphan.id);
    expect(r.ctl.view.ops.has(opKey("a0", bad.id))).toBe(false);
    expect(r.ctl.view.unreadable.ops.get(opKey("a0", bad.id))?.error).toBeTruthy();
  });

  it("a node's heartbeat rewrites its malformed node record; nodes.list shows unreadable nodes", async () => {
    const { client, node } = await env();
    await node("n1");
    const badRev = await poison(client, "nodes", "n1");
    await poison(client, "nodes", "ghost");
    await waitFor("n1 rewritten", async () => {
      const e = await client.get("nodes", "n1").catch(() => null);
      return e && e.revision > badRev ? e : null;
    });
    expect((await client.get("nodes", "n1"))!.value.status).toBe("healthy");
    const list = await client.call("nodes.list", {});
    expect(list.nodes.map((x) => x.id)).toEqual(["n1"]);
    expect(list.unreadable).toEqual([{ id: "ghost", error: expect.any(String) as string }]);
  });

  it("malformed settings read as the defaults and settings.set writes over them", async () => {
    const { client } = await env();
    await poison(client, "settings", SETTINGS_KEY);
    expect((await client.call("settings.get", {})).settings.autoUpgrade).toBe(false);
    const s = await client.call("settings.set", { autoUpgrade: true, actor: "ops-team" });
    expect(s.settings).toMatchObject({ autoUpgrade: true, updatedBy: "ops-team" });
    expect((await client.get("settings", SETTINGS_KEY))!.value.autoUpgrade).toBe(true);
  });
});
