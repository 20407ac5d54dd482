import { describe, expect, it } from "vitest";
import { installed, inventory } from "./facts.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader, writeGallery } from "./cluster.js";
import { mapLimit } from "../../src/controller/map-limit.js";

/** More nodes than the old per-backend record could hold (10,000 rows, ~1 MB at ~7,000). */
const NODES = 20_000;

const suite = controllerSuite("fleet-scale");

describe("issue 15 §4: no record grows with the fleet", () => {
  it(`an upgrade check over ${NODES} nodes stores every node's row, none refused or cut`, async () => {
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
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const ids = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(5, "0")}`);
    // Every node runs 1.0.0 but one in a hundred, which runs 0.9.0 (drift, and upgradable too).
    const version = (i: number) => (i % 100 === 0 ? "0.9.0" : "1.0.0");
    await mapLimit(ids, 256, (id, i = ids.indexOf(id)) =>
      client.put("inventory", id, inventory(id, [installed("llama", { version: version(i) })])),
    );
    const r = await startReplica(suite.nats.url, prefix, { galleryPath });
    suite.defer(() => r.stop());
    await waitLeader([r]);

    const res = await client.call("upgrades.check", { actor: "scale-test" }, 60_000);
    expect(res.upgrades).toEqual([
      expect.objectContaining({
        backend: "llama",
        installed: NODES,
        upgradable: NODES,
        drifted: NODES / 100,
      }),
    ]);
    expect((await client.call("upgrades.list", {})).upgrades).toHaveLength(1);

    const rows = await client.list("upgrade_nodes");
    expect(rows).toHaveLength(NODES);
    const byNode = new Map(rows.map((e) => [e.key, e.value.rows]));
    expect(byNode.get("node-00000")).toEqual([
      { backend: "llama", version: "0.9.0", upgradable: true, drift: true },
    ]);
    expect(byNode.get("node-19999")).toEqual([
      { backend: "llama", version: "1.0.0", upgradable: true, drift: false },
    ]);
  }, 120_000);
});
