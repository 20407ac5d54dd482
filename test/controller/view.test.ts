import { describe, expect, it } from "vitest";
import { ClusterView } from "../../src/controller/view.js";
import type { UpgradeInfo } from "../../src/protocol/index.js";
import { connect, controllerSuite, uniquePrefix } from "./cluster.js";
import { T0 } from "./facts.js";

const suite = controllerSuite("view");

const llama: UpgradeInfo = {
  v: 1,
  backend: "llama",
  via: "version",
  installed: 1,
  upgradable: 1,
  drifted: 0,
  checkedAt: T0,
};

describe("ClusterView lists", () => {
  it("a list from the copy includes what this replica wrote, even when the bucket's latest revision cannot be read", async () => {
    const client = await connect(suite.nats.url, uniquePrefix());
    suite.defer(() => client.close());
    const view = new ClusterView(client);
    await view.start();
    view.stop(); // the copy ends here: it lags every write after this
    client.lastRevision = () => new Promise<number>(() => {}); // a stream that never answers
    const revision = await client.put("upgrades", "llama", llama);
    // Not knowing of the write, a list takes the stream for leaderless and answers from the copy ...
    expect((await view.listed("upgrades", "", 100))?.rows).toEqual([]);
    // ... but never without a write of this replica's own: the caller reads the bucket instead.
    view.wrote("upgrades", revision);
    expect(await view.listed("upgrades", "", 100)).toBeNull();
  });
});
