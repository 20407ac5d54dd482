import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import type { ControllerTimings, DeepPartial } from "../../src/controller/config.js";
import { SCHEMA_VERSION, SETTINGS_KEY, type OpRecord, type Rollout } from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";
import { installed } from "./facts.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import { FakeNode, type Behaviour } from "./fake-node.js";

const GALLERY = `
- name: foo
  uri: 127.0.0.1:5999/foo:cpu
  version: 2.0.0
- name: bar
  uri: 127.0.0.1:5999/bar:cpu
  version: 3.0.0
`;

const suite = controllerSuite("auto-upgrade", { gallery: GALLERY });

interface Env {
  client: ClusterClient;
  nodes: Map<string, FakeNode>;
  rollouts(): Promise<Rollout[]>;
  until(what: string, ok: (rs: Rollout[]) => boolean): Promise<Rollout[]>;
  ops(): Promise<OpRecord[]>;
}

async function env(
  ids: string[],
  o: {
    backends?: Array<[string, string]>;
    behave?: (op: OpRecord) => Behaviour;
    timings?: DeepPartial<ControllerTimings>;
  } = {},
): Promise<Env> {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const rep = await startReplica(suite.nats.url, prefix, {
    galleryPath: suite.galleryPath,
    timings: { rolloutIntervalMs: 50, ...o.timings },
  });
  suite.defer(() => rep.stop());
  await waitLeader([rep]);
  const nodes = new Map<string, FakeNode>();
  const backends = o.backends ?? [
    ["foo", "1.0.0"],
    ["bar", "2.0.0"],
  ];
  for (const id of ids) {
    const n = new FakeNode(client, {
      nodeId: id,
      backends: backends.map(([name, version]) => installed(name, { version })),
      behave: o.behave,
    });
    await n.start();
    suite.defer(() => n.stop());
    nodes.set(id, n);
  }
  await waitFor("nodes healthy and seen", async () => {
    const all = await client.list("nodes");
    return (
      all.length === ids.length &&
      all.every((x) => x.value.status === "healthy") &&
      rep.ctl.view.inventories.size === ids.length
    );
  });
  const rollouts = async () =>
    (await client.call("rollouts.list", { all: true })).rollouts.sort((a, b) => a.createdAt - b.createdAt);
  return {
    client,
    nodes,
    rollouts,
    async until(what, ok) {
      let last: Rollout[] = [];
      await waitFor(
        what,
        async () => {
          last = await rollouts();
          return ok(last);
        },
        20_000,
      ).catch((e: unknown) => {
        throw new Error(`${String(e)}; rollouts were ${JSON.stringify(last)}`);
      });
      return last;
    },
    async ops() {
      return (await client.list("ops")).map((x) => x.value);
    },
  };
}

const version = (n: FakeNode | undefined, name: string) =>
  n?.backends.find((b) => b.name === name)?.metadata.version;
const byBackend = (rs: Rollout[], backend: string) => rs.filter((r) => r.backend === backend);

/** Fast rollouts for tests: two waves, no soak. */
const QUICK = { waves: "1,100%", soak: "0s", maxParallel: "100%" };

describe("auto-upgrade through rollouts", () => {
  it("starts exactly one rollout per backend, with the settings' default strategy, and none when nothing is left", async () => {
    const e = await env(["n1", "n2", "n3"]);
    await e.client.call("settings.set", QUICK);
    expect((await e.client.call("upgrades.check", {})).upgrades.map((u) => u.backend)).toEqual([
      "bar",
      "foo",
    ]);
    expect(await e.rollouts()).toEqual([]); // off by default

    await e.client.call("settings.set", { autoUpgrade: true });
    const rs = await e.until(
      "both rollouts succeeded",
      (rs) => rs.length === 2 && rs.every((r) => r.state === "succeeded"),
    );
    for (const backend of ["foo", "bar"]) {
      const [r] = byBackend(rs, backend);
      expect(r).toMatchObject({
        origin: "auto-upgrade",
        createdBy: "auto-upgrade",
        targeting: { kind: "nodes" },
        eligible: 3,
        waves: [1, 3],
        strategy: { waves: ["1", "100%"], soakMs: 0, maxParallel: "100%", autoPromote: true },
      });
    }
    for (const n of e.nodes.values()) {
      expect(version(n, "foo")).toBe("2.0.0");
      expect(version(n, "bar")).toBe("3.0.0");
    }
    // Every op went through a rollout, once per node and backend.
    const ops = await e.ops();
    expect(ops).toHaveLength(6);
    expect(new Set(ops.map((o) => o.requestedBy))).toEqual(new Set(rs.map((r) => `rollout ${r.id}`)));

    // Later checks find nothing to upgrade and start nothing.
    await e.client.call("upgrades.check", {});
    await e.client.call("upgrades.check", {});
    expect(await e.rollouts()).toHaveLength(2);
  });

  it("never a second rollout while one runs, nor again after an abort until it is dismissed", async () => {
    // The canary (first by id) fails its upgrade: the first wave's budget is 0, so the rollout pauses.
    const e = await env(["a-bad", "n2", "n3"], {
      backends: [["foo", "1.0.0"]],
      behave: (op) => (op.nodeId === "a-bad" && op.kind === "upgrade" ? "fail" : "succeed"),
    });
    await e.client.call("settings.set", { ...QUICK, autoUpgrade: true });
    const [first] = await e.until("paused at the canary", (rs) => rs[0]?.state === "paused");
    expect(first!.reason).toMatch(/failure budget exceeded in wave 1: 1 node failed \(budget 0\): a-bad/);

    // Paused is not ended: checks that still find foo upgradable start nothing.
    for (let i = 0; i < 2; i++) {
      const c = await e.client.call("upgrades.check", {});
      expect(c.upgrades.find((u) => u.backend === "foo")?.upgradable).toBe(3);
      expect(await e.rollouts()).toHaveLength(1);
    }
    // An operator cannot start a second one either.
    await expect(e.client.call("rollouts.start", { backend: "foo" })).rejects.toMatchObject({
      code: "conflict",
    });

    await e.client.call("rollouts.abort", { id: first!.id });
    await e.until("aborted", (rs) => rs[0]?.state === "aborted");
    await e.client.call("upgrades.check", {});
    expect(await e.rollouts()).toHaveLength(1);
    expect(version(e.nodes.get("n2"), "foo")).toBe("1.0.0");

    // Dismissed: the next check starts a new rollout, without the node whose failed op nobody dismissed.
    await e.client.call("rollouts.dismiss", { id: first!.id });
    await e.client.call("upgrades.check", {});
    const rs = await e.until("the second rollout succeeded", (rs) => rs[1]?.state === "succeeded");
    expect(rs).toHaveLength(2);
    expect(rs[1]).toMatchObject({ origin: "auto-upgrade", eligible: 2 });
    expect(version(e.nodes.get("n2"), "foo")).toBe("2.0.0");
    expect(version(e.nodes.get("n3"), "foo")).toBe("2.0.0");
    expect(version(e.nodes.get("a-bad"), "foo")).toBe("1.0.0");
  });

  it("admits an auto-started rollout's ops only inside the maintenance window; an operator's rollout ignores it", async () => {
    const e = await env(["n1", "n2"]);
    const h = new Date().getUTCHours();
    const hh = (x: number) => `${String((x + 24) % 24).padStart(2, "0")}:00`;
    // Opens in two hours for an hour: closed now.
    await e.client.call("settings.set", { ...QUICK, window: `${hh(h + 2)}-${hh(h + 3)} UTC` });
    await e.client.call("settings.set", { autoUpgrade: true });
    const waiting = await e.until(
      "both auto rollouts wait for the window",
      (rs) => rs.length === 2 && rs.every((r) => r.state === "running" && !!r.windowOpensAt),
    );
    for (const r of waiting) {
      expect(r.reason).toBe(`outside maintenance window until ${dayName(r.windowOpensAt!)} ${hh(h + 2)} UTC`);
      expect(r.windowOpensAt).toBeGreaterThan(Date.now());
    }
    expect(await e.ops()).toEqual([]);

    // An operator's rollout (after aborting auto-upgrade's one of that backend) runs at once.
    const barAuto = waiting.find((r) => r.backend === "bar")!;
    await e.client.call("rollouts.abort", { id: barAuto.id });
    await e.until(
      "bar's auto rollout aborted",
      (rs) => rs.find((r) => r.id === barAuto.id)?.state === "aborted",
    );
    const { rollout: manual } = await e.client.call("rollouts.start", { backend: "bar" });
    await e.until(
      "the manual rollout succeeded",
      (rs) => rs.find((r) => r.id === manual.id)?.state === "succeeded",
    );
    // Meanwhile foo's auto rollout admitted nothing.
    expect((await e.ops()).filter((o) => o.backend === "foo")).toEqual([]);
    expect(version(e.nodes.get("n1"), "foo")).toBe("1.0.0");

    // A window that is open now: it goes on.
    await e.client.call("settings.set", { window: `${hh(h - 1)}-${hh(h + 2)} UTC` });
    const done = await e.until(
      "foo's rollout succeeded",
      (rs) => rs.find((r) => r.backend === "foo")?.state === "succeeded",
    );
    expect(done.find((r) => r.backend === "foo")).toMatchObject({
      origin: "auto-upgrade",
      reason: "2 nodes upgraded",
    });
    expect(version(e.nodes.get("n2"), "foo")).toBe("2.0.0");
  });

  it("the leader removes ended rollouts past retention, never an aborted one nobody dismissed", async () => {
    const e = await env(["n1"], {
      timings: { rolloutRetention: { keepEnded: 0, keepMs: 0, everyMs: 100 } },
    });
    await e.client.call("settings.set", QUICK);
    const { rollout: ok } = await e.client.call("rollouts.start", { backend: "foo" });
    const { rollout: ab } = await e.client.call("rollouts.start", { backend: "bar", nodes: ["n1"] });
    await e.client.call("rollouts.pause", { id: ab.id });
    await e.client.call("rollouts.abort", { id: ab.id });
    await waitFor("the succeeded rollout and its rows removed", async () => {
      const heads = await e.client.keys("rollouts");
      const rows = await e.client.keys("rollout_nodes");
      return !heads.includes(ok.id) && !rows.some((k) => k.startsWith(`${ok.id}.`));
    });
    const aborted = await e.until("bar aborted", (rs) =>
      rs.some((r) => r.id === ab.id && r.state === "aborted"),
    );
    expect(aborted.map((r) => r.id)).toEqual([ab.id]);
    expect((await e.client.call("rollouts.get", { id: ab.id })).nodes).toHaveLength(1);
    // Dismissed, it goes too.
    await e.client.call("rollouts.dismiss", { id: ab.id });
    await waitFor(
      "the dismissed rollout removed",
      async () => (await e.client.keys("rollouts")).length === 0,
    );
    expect(await e.client.keys("rollout_nodes")).toEqual([]);
  });
});

const dayName = (at: number) => ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][new Date(at).getUTCDay()];

describe("rollout defaults in the settings", () => {
  it("fill what a rollout does not set; a record from before them reads; set repairs a malformed one", async () => {
    const e = await env(["n1", "n2"]);
    // A settings record as an older controller wrote it.
    await e.client.put("settings", SETTINGS_KEY, {
      v: SCHEMA_VERSION,
      autoUpgrade: false,
      upgradeCheckIntervalSec: 3600,
      updatedAt: 1,
      updatedBy: "old",
    });
    const old = (await e.client.call("settings.get", {})).settings;
    expect(old.rolloutDefaults).toBeUndefined();
    expect((await e.client.call("rollouts.plan", { backend: "foo" })).plan.strategy).toMatchObject({
      waves: ["1", "10%", "50%", "100%"],
      maxParallel: "10%",
      soakMs: 60_000,
      autoPromote: true,
      autoRevert: false,
    });

    const s = await e.client.call("settings.set", {
      waves: "1,50%,100%",
      soak: "5m",
      maxFailures: "2",
      autoRevert: true,
      window: "sat,sun 2:00-5:00",
      actor: "ops-team",
    });
    expect(s.settings).toMatchObject({
      upgradeCheckIntervalSec: 3600,
      rolloutDefaults: { waves: ["1", "50%", "100%"], soakMs: 300_000, maxFailures: "2", maxParallel: "10%" },
      window: "Sat,Sun 02:00-05:00 UTC",
      updatedBy: "ops-team",
    });
    // A rollout's own flags win; the rest come from the settings.
    const { plan } = await e.client.call("rollouts.plan", { backend: "foo", waves: "100%" });
    expect(plan.strategy).toEqual({
      waves: ["100%"],
      maxParallel: "10%",
      soakMs: 300_000,
      maxFailures: "2",
      autoPromote: true,
      autoRevert: true,
    });
    // Back to the built-in budget, and no window.
    const cleared = await e.client.call("settings.set", { maxFailures: null, window: "none" });
    expect(cleared.settings.rolloutDefaults?.maxFailures).toBeUndefined();
    expect(cleared.settings.window).toBeUndefined();

    for (const [bad, field] of [
      [{ waves: "50%,10%" }, "waves"],
      [{ soak: "forever" }, "soak"],
      [{ window: "Sat 02:00-02:00" }, "window"],
      [{ window: "Sat 02:00-03:00 Mars/Olympus" }, "window"],
    ] as const) {
      await expect(e.client.call("settings.set", bad)).rejects.toMatchObject({ code: "bad_request", field });
    }

    // A record whose defaults do not validate reads as the defaults, and set writes over it.
    await e.client
      .bucket("settings")
      .put(
        SETTINGS_KEY,
        new TextEncoder().encode(JSON.stringify({ ...old, rolloutDefaults: { waves: ["fast"] } })),
      );
    expect((await e.client.call("settings.get", {})).settings.updatedBy).toBe("default");
    const repaired = await e.client.call("settings.set", { soak: "10s" });
    expect(repaired.settings.rolloutDefaults).toMatchObject({
      soakMs: 10_000,
      waves: ["1", "10%", "50%", "100%"],
    });
  });
});
