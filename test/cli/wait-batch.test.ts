import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForOps } from "../../src/cli/wait.js";
import { opKey } from "../../src/protocol/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { connect, uniquePrefix } from "../controller/cluster.js";
import { op } from "../controller/facts.js";
import type { ClusterClient } from "../../src/client/index.js";

describe("--wait on an admission too big to list", () => {
  let server: NatsServer;
  let client: ClusterClient;
  beforeAll(async () => {
    server = await NatsServer.start();
    client = await connect(server.url, uniquePrefix());
  });
  afterAll(async () => {
    await client?.close();
    await server?.dispose();
  });

  it("waits for the unlisted ops of its batch too, and for no other op", async () => {
    const put = (nodeId: string, id: string, state: "queued" | "succeeded") =>
      client.put("ops", opKey(nodeId, id), op(id, nodeId, "foo", { kind: "upgrade", state }));
    await Promise.all([
      put("n1", "op-listed", "succeeded"),
      put("n2", "op-b-0", "succeeded"),
      put("n3", "op-b-1", "queued"),
      put("n4", "op-other", "queued"),
    ]);
    const lines: string[] = [];
    let settled = false;
    const waiting = waitForOps(client, [{ nodeId: "n1", opId: "op-listed" }], {
      out: (l) => lines.push(l),
      rest: { prefix: "op-b-", total: 3 },
    }).finally(() => (settled = true));
    // It has seen the queued op of its batch (a line for it) and is still waiting on it.
    await expect.poll(() => lines.some((l) => l.includes("op-b-1 upgrade foo queued"))).toBe(true);
    expect(settled).toBe(false);
    await put("n3", "op-b-1", "succeeded");
    const done = await waiting;
    expect(done.map((o) => o.id).sort()).toEqual(["op-b-0", "op-b-1", "op-listed"]);
    expect(lines.at(-1)).toBe("3 succeeded, 0 failed");
  });
});
