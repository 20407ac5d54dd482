import { monitorEventLoopDelay } from "node:perf_hooks";
import { beforeAll, describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { listAllNodes, listAllOps } from "../../src/client/index.js";
import { CONTROLLER_LEASE_KEY, streamNames } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader, type Replica } from "./cluster.js";
import { writeFleet } from "./fleet-records.js";

const NODES = 20_000;
const ROLLOUT = "ro-abc-0001";
const suite = controllerSuite("lease-scale");
const ids = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(5, "0")}`);

let client: ClusterClient;
let replica: Replica;
const transitions: string[] = [];
const delay = monitorEventLoopDelay({ resolution: 10 });
const ms = (ns: number) => Math.round(ns / 1e6);
const trace = (what: string) => {
  if (process.env.BP_LEASE_TRACE) console.log(`${new Date().toISOString()} ${what}`);
};

describe(`the leader keeps its lease at ${NODES} nodes, ops and rollout rows`, () => {
  beforeAll(async () => {
    const prefix = uniquePrefix();
    client = await connect(suite.nats.url, prefix);
    await writeFleet(client, ids, { now: Date.now(), rolloutId: ROLLOUT });
    trace("seeded");
    delay.enable();
    replica = await startReplica(suite.nats.url, prefix, {});
    replica.ctl.lease.onChange((l) => {
      transitions.push(l ? "lead" : "lost");
      trace(
        `lease ${l ? "taken" : "lost"}; loop delay p50 ${ms(delay.percentile(50))} p99 ${ms(delay.percentile(99))} max ${ms(delay.max)} ms`,
      );
    });
    return async () => {
      delay.disable();
      await replica.stop();
      await client.close();
    };
  }, 240_000);

  it("one leader term through take-over, every duty's first passes and the API's lists", async () => {
    await waitLeader([replica], 30_000);
    const first = await client.get("leases", CONTROLLER_LEASE_KEY);
    expect(first?.value.holder).toBe(replica.ctl.id);
    trace("leading");
    expect((await listAllNodes(client, 20_000)).nodes).toHaveLength(NODES);
    expect((await listAllOps(client, { all: true })).ops).toHaveLength(NODES);
    trace("listed");
    // Every node goes silent (none heartbeats), so the health monitor writes 20,000 records
    // twice: unhealthy, then offline. The term must outlast it.
    await waitFor(
      "every node offline",
      () => [...replica.ctl.view.nodes.values()].every((e) => e.value.status === "offline"),
      120_000,
    );
    trace("all offline");
    // And a dozen renewals after it.
    await waitFor(
      "twelve more renewals",
      async () => {
        const cur = await client.get("leases", CONTROLLER_LEASE_KEY);
        return cur && cur.revision >= first!.revision + 12;
      },
      60_000,
    );
    const last = await client.get("leases", CONTROLLER_LEASE_KEY);
    trace(
      `done; loop delay p50 ${ms(delay.percentile(50))} p99 ${ms(delay.percentile(99))} max ${ms(delay.max)} ms; transitions ${transitions.join(",")}`,
    );
    expect(last?.value).toMatchObject({ holder: replica.ctl.id, since: first!.value.since });
    expect(transitions.filter((t) => t === "lost")).toEqual([]);
    expect(replica.ctl.isLeader()).toBe(true);
    // The take-over replayed every op that ended in the last two minutes into history, once.
    const outcomes = await client.js.consumers.get(streamNames(client.prefix).events, {
      filter_subjects: `${client.subjects.event("op.state")}.>`,
    });
    expect((await outcomes.info()).num_pending).toBe(NODES);
  }, 240_000);
});
