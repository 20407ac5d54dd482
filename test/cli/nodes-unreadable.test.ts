import { describe, expect, it } from "vitest";
import { api } from "../../src/protocol/index.js";
import { runBackplane } from "../harness/backplane.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix } from "../controller/cluster.js";
import { FakeNode } from "../controller/fake-node.js";

const suite = controllerSuite("cli-unreadable");

describe("backplane nodes list with a node record that cannot be parsed", () => {
  it("shows the node as unreadable, with its key and why, in the table and in --json", async () => {
    const prefix = uniquePrefix();
    const replica = await startReplica(suite.nats.url, prefix);
    suite.defer(() => replica.stop());
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const good = await new FakeNode(client, { nodeId: "node-a" }).start({ work: false });
    suite.defer(async () => good.stopHeartbeats());
    await waitFor("node-a recorded", async () => (await client.get("nodes", "node-a")) !== null);
    // A manual `nats kv put` of something that is not a node record; no heartbeat repairs it.
    await client.bucket("nodes").put("ghost", '{"v":1,"id":"ghost"}');
    await waitFor("the controller sees it", () => replica.ctl.view.unreadable.nodes.has("ghost"));

    const cli = (...args: string[]) =>
      runBackplane(["nodes", "list", ...args, "--server", suite.nats.url, "--prefix", prefix]);
    const table = await cli();
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines.find((l) => l.startsWith("node-a"))).toMatch(/healthy/);
    const ghost = lines.find((l) => l.startsWith("ghost"));
    expect(ghost).toMatch(/unreadable \(.+\)/);

    const json = await cli("--json");
    expect(json.code, json.stderr).toBe(0);
    const res = api["nodes.list"].res.parse(JSON.parse(json.stdout));
    expect(res.nodes.map((n) => n.id)).toEqual(["node-a"]);
    expect(res.unreadable).toEqual([{ id: "ghost", error: expect.stringMatching(/\S/) as string }]);
  });
});
