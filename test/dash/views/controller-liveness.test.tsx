import { afterEach, describe, expect, it } from "vitest";
import { startClusterFeed } from "../../../src/store/cluster-feed.js";
import {
  connect,
  controllerSuite,
  LEASE_TTL_MS,
  startReplica,
  uniquePrefix,
} from "../../controller/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const suite = controllerSuite("dash-liveness");

describe("the header against a real controller", () => {
  it("names the leader and the age of its lease, then says in words when no controller has renewed for longer than the lease", async () => {
    const prefix = uniquePrefix();
    const replica = await startReplica(suite.nats.url, prefix);
    suite.defer(() => replica.crash());
    const client = await connect(suite.nats.url, prefix, "dash");
    suite.defer(() => client.close());
    const r = renderDash({ columns: 100, rows: 30 });
    const a = r.store.getState().actions;
    const feed = startClusterFeed(
      client,
      {
        batch: (e, n) => a.applyBatch(e, n),
        status: (s) => a.setConn(s),
        problem: (m) => a.setFeedProblem(m),
        leaseTtl: (ms) => a.setLeaseTtl(ms),
      },
      { flushMs: 50 },
    );
    suite.defer(async () => feed.stop());

    let f = await r.waitForFrame(`leader ${replica.ctl.id}`, "the leader in the header", 10_000);
    expect(f.split("\n")[0]).toMatch(new RegExp(`● connected .* │ leader ${replica.ctl.id} \\ds`));
    expect(r.store.getState().leaseTtlMs).toBe(LEASE_TTL_MS);
    expect(f).not.toContain("no controller");

    // As SIGSTOP or a crash: no renewal, no release; the connection to NATS stays up.
    await replica.crash();
    f = await r.waitForFrame(/✗ no controller for \ds/, "the controller's silence in words", 10_000);
    expect(f.split("\n")[0]).toContain("● connected");
    expect(f).toContain(`no controller has renewed its lease or answered for`);
    expect(f).toContain(`(last leader ${replica.ctl.id})`);
  });
});
