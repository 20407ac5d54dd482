import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import type { Heartbeat, OpRecord } from "../../src/protocol/index.js";
import { api, type Inventory } from "../../src/protocol/index.js";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { removeDir, stopProcess, tempDir, waitFor, type Spawned } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { startClusterFeed } from "../../src/store/cluster-feed.js";
import { createDashStore } from "../../src/store/index.js";

const CONF = new URL("../../deploy/nats-server.conf", import.meta.url);

/** The permission blocks exactly as deploy/nats-server.conf ships them. */
async function shippedPermissions(): Promise<string> {
  const text = await readFile(CONF, "utf8");
  const start = text.indexOf("# --- permissions:start");
  const end = text.indexOf("# --- permissions:end");
  if (start < 0 || end < 0) throw new Error("permission markers missing from deploy/nats-server.conf");
  return text.slice(start, end);
}

/** A second node's block, made as the config says: AGENT_GPU_01 copied with the node id replaced. */
function secondAgent(perms: string): string {
  const start = perms.indexOf("AGENT_GPU_01 = {");
  const end = perms.indexOf("DASHBOARD = {");
  return perms.slice(start, end).replaceAll("GPU_01", "GPU_02").replaceAll("gpu-01", "gpu-02");
}

const users = `
authorization {
  users: [
    { user: controller, password: ctl-pass }
    { user: dash, password: dash-pass, permissions: $DASHBOARD }
    { user: agent-gpu-01, password: agent-pass, permissions: $AGENT_GPU_01 }
    { user: agent-gpu-02, password: agent2-pass, permissions: $AGENT_GPU_02 }
  ]
}`;

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("deploy/nats-server.conf permissions, on a real server", () => {
  let nats: NatsServer;
  let registry: Registry;
  let dir: string;
  const procs: Spawned[] = [];
  const conns: NatsConnection[] = [];
  /** Where the server's log stands once the cluster is up: no refusal is expected after it. */
  let quietFrom = 0;
  const as = (user: string, pass: string) => ["--server", nats.url, "--user", user, "--password", pass];
  const dashFlags = () => as("dash", "dash-pass");

  /** A bare connection as `user`, replying to its own inbox prefix as the shipped clients do. */
  async function bare(user: string, pass: string): Promise<NatsConnection> {
    const nc = await connect({ servers: [nats.url], user, pass, inboxPrefix: `_INBOX_${user}` });
    conns.push(nc);
    return nc;
  }

  /** The server logged that it refused `user` this publish or subscription. */
  function refusedBy(what: "Publish" | "Subscription", user: string, subject: string): boolean {
    const q = subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`${what} Violation - User "${user}", Subject "${q}"`).test(nats.output());
  }

  /** Try a request that must be refused: it fails, and the server says it refused the publish. */
  async function requestRefused(nc: NatsConnection, user: string, subject: string, body = ""): Promise<void> {
    await expect(nc.request(subject, body, { timeout: 2_000 }), subject).rejects.toThrow();
    await waitFor(`the server to refuse ${user} publishing to ${subject}`, () =>
      refusedBy("Publish", user, subject),
    );
  }

  async function subscribeRefused(nc: NatsConnection, user: string, subject: string): Promise<void> {
    nc.subscribe(subject, { callback: () => {} });
    await nc.flush();
    await waitFor(`the server to refuse ${user} subscribing to ${subject}`, () =>
      refusedBy("Subscription", user, subject),
    );
  }

  async function admin(): Promise<ClusterClient> {
    return ClusterClient.connect({ servers: [nats.url], user: "controller", pass: "ctl-pass" });
  }

  beforeAll(async () => {
    const perms = await shippedPermissions();
    nats = await NatsServer.start({ extraConfig: perms + secondAgent(perms) + users });
    registry = await Registry.start();
    dir = await tempDir("perm");
    const { ref } = await pushBackendImage(registry, "backends/piper", "1.0.0", {});
    const gallery = join(dir, "index.yaml");
    await writeFile(gallery, `- name: piper\n  uri: ${ref}\n  version: 1.0.0\n`);
    procs.push(spawnBackplane(["controller", ...as("controller", "ctl-pass"), "--gallery", gallery]));
    for (const [node, pass] of [
      ["gpu-01", "agent-pass"],
      ["gpu-02", "agent2-pass"],
    ] as const) {
      procs.push(
        spawnBackplane([
          "agent",
          ...as(`agent-${node}`, pass),
          "--node-id",
          node,
          "--backends-dir",
          join(dir, node),
          "--capability",
          "default",
          ...["--probe", "none"],
        ]),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await Promise.all(procs.map((p) => stopProcess(p)));
    await Promise.all([nats?.dispose(), registry?.dispose()]);
    if (dir) await removeDir(dir);
  });

  it("confined agents and a confined dashboard user install a backend end to end", async () => {
    await waitFor(
      "gpu-01 and gpu-02 to be healthy",
      async () => {
        const r = await runBackplane(["nodes", "list", "--json", ...dashFlags()]);
        return (
          r.code === 0 &&
          api["nodes.list"].res.parse(JSON.parse(r.stdout)).nodes.filter((n) => n.status === "healthy")
            .length === 2
        );
      },
      45_000,
      250,
    );
    // A client that starts before the controller has made the topology is refused making it;
    // from here on, nothing the shipped clients do may be refused.
    quietFrom = nats.output().length;
    const r = await runBackplane(
      ["backends", "install", "piper", "--node", "gpu-01", "--wait", ...dashFlags()],
      {},
      60_000,
    );
    expect(
      r.code,
      r.stderr +
        procs
          .map((p) => p.output())
          .join("\n")
          .slice(-3000),
    ).toBe(0);
    // Everything the shipped clients do once the cluster is up is granted: not one refusal.
    expect(nats.output().slice(quietFrom)).not.toMatch(/Violation/);
  }, 90_000);

  it("the CLI reads every bucket as the dashboard user", async () => {
    for (const args of [
      ["backends", "list", "--json"],
      ["backends", "upgrades", "--json"],
      ["ops", "list", "--json"],
    ]) {
      const r = await runBackplane([...args, ...dashFlags()]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    }
    expect(nats.output().slice(quietFrom)).not.toMatch(/Violation/);
  });

  it("the dashboard's feed runs as the dashboard user: every bucket, heartbeats, progress and the live audit trail, no refusal", async () => {
    const dash = ClusterClient.open({ servers: [nats.url], user: "dash", pass: "dash-pass", name: "dash" });
    const store = createDashStore();
    const a = store.getState().actions;
    // The same sink as `backplane dash` (src/cli/dash-screen.tsx): everything it subscribes to.
    const feed = startClusterFeed(dash, {
      batch: (e, n) => a.applyBatch(e, n),
      status: (st) => a.setConn(st),
      problem: (m) => a.setFeedProblem(m),
      leaseTtl: (ms) => a.setLeaseTtl(ms),
      audit: (events) => a.addHistoryEvents(events),
    });
    try {
      await feed.synced;
      await waitFor("every bucket synced and a heartbeat", () => {
        const st = store.getState();
        return Object.values(st.synced).every(Boolean) && st.heartbeats.size > 0;
      });
      const st = store.getState();
      expect([...st.nodes.keys()].sort()).toEqual(["gpu-01", "gpu-02"]);
      expect(st.inventory.get("gpu-01")?.backends.some((b) => b.name === "piper")).toBe(true);
      expect([...st.ops.values()].some((o) => o.nodeId === "gpu-01" && o.state === "succeeded")).toBe(true);
    } finally {
      feed.stop();
      await dash.close();
    }
    expect(nats.output().slice(quietFrom)).not.toMatch(/Violation/);
  });

  it("the agent user cannot speak for another node", async () => {
    const agent = await ClusterClient.connect({
      servers: [nats.url],
      user: "agent-gpu-01",
      pass: "agent-pass",
      attachOnly: { workConsumer: "agent_gpu-01" },
    });
    try {
      const fake: Inventory = { v: 1, nodeId: "gpu-02", updatedAt: Date.now(), backends: [] };
      await expect(agent.put("inventory", "gpu-02", fake)).rejects.toThrow();
      const now = Date.now();
      const op: OpRecord = {
        v: 1,
        id: "theirs",
        nodeId: "gpu-02",
        kind: "install",
        backend: "piper",
        state: "queued",
        requestedBy: "gpu-01",
        createdAt: now,
        updatedAt: now,
        attempts: 0,
        dismissed: false,
      };
      await expect(agent.put("ops", "gpu-02.theirs", op)).rejects.toThrow();
      agent.publish(agent.subjects.heartbeat("gpu-02"), { nodeId: "gpu-02" } satisfies Partial<Heartbeat>);
      await agent.nc.flush();
      await waitFor("the server to refuse the heartbeat", () =>
        /permissions violation .*publish.*bp\.node\.gpu-02\.heartbeat/i.test(agent.status.reason ?? ""),
      );
    } finally {
      await agent.close();
    }
    const ctl = await admin();
    try {
      expect(await ctl.get("inventory", "gpu-02")).toMatchObject({ value: { backends: [] } });
      expect((await ctl.get("inventory", "gpu-01"))?.value.backends.some((b) => b.name === "piper")).toBe(
        true,
      );
    } finally {
      await ctl.close();
    }
  });

  it("the agent user cannot take over another node's work queue", async () => {
    const user = "agent-gpu-01";
    const nc = await bare(user, "agent-pass");
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    // Its own durable re-created with gpu-02's filter: the client names the filter in the subject.
    await expect(
      jsm.consumers.add("BP_WORK", {
        durable_name: "agent_gpu-01",
        filter_subject: "bp.work.gpu-02",
        ack_policy: AckPolicy.Explicit,
      }),
    ).rejects.toThrow();
    await waitFor("the server to refuse the create", () =>
      refusedBy("Publish", user, "$JS.API.CONSUMER.CREATE.BP_WORK.agent_gpu-01.bp.work.gpu-02"),
    );
    // The same body sent on its own filter's subject: the server refuses the mismatch.
    const own = "$JS.API.CONSUMER.CREATE.BP_WORK.agent_gpu-01.bp.work.gpu-01";
    for (const filter of ["bp.work.gpu-02", "bp.work.*", ""]) {
      const body = {
        stream_name: "BP_WORK",
        config: { durable_name: "agent_gpu-01", filter_subject: filter, ack_policy: "explicit" },
      };
      const reply = text((await nc.request(own, JSON.stringify(body), { timeout: 2_000 })).data);
      expect(reply, filter).toMatch(/did not match filtered subject/);
    }
    const multi = {
      stream_name: "BP_WORK",
      config: { durable_name: "agent_gpu-01", filter_subjects: ["bp.work.gpu-02"], ack_policy: "explicit" },
    };
    expect(text((await nc.request(own, JSON.stringify(multi), { timeout: 2_000 })).data)).toMatch(
      /did not match filtered subject/,
    );
    const cfg = (name: string, filter: string) =>
      JSON.stringify({
        stream_name: "BP_WORK",
        config: { durable_name: name, filter_subject: filter, ack_policy: "explicit" },
      });
    await requestRefused(
      nc,
      user,
      "$JS.API.CONSUMER.DURABLE.CREATE.BP_WORK.agent_gpu-01",
      cfg("agent_gpu-01", "bp.work.gpu-02"),
    );
    await requestRefused(
      nc,
      user,
      "$JS.API.CONSUMER.CREATE.BP_WORK.agent_gpu-01",
      cfg("agent_gpu-01", "bp.work.gpu-02"),
    );
    await requestRefused(nc, user, "$JS.API.CONSUMER.CREATE.BP_WORK", cfg("x", "bp.work.gpu-02"));
    await requestRefused(
      nc,
      user,
      "$JS.API.CONSUMER.CREATE.BP_WORK.agent_gpu-02.bp.work.gpu-02",
      cfg("agent_gpu-02", "bp.work.gpu-02"),
    );
    await requestRefused(nc, user, "$JS.API.CONSUMER.DELETE.BP_WORK.agent_gpu-02");
    await requestRefused(nc, user, "$JS.API.CONSUMER.INFO.BP_WORK.agent_gpu-02");
    await requestRefused(nc, user, "$JS.API.CONSUMER.MSG.NEXT.BP_WORK.agent_gpu-02", '{"batch":1}');
    await subscribeRefused(nc, user, "bp.work.gpu-02");

    const ctl = await admin();
    try {
      const mine = await ctl.jsm.consumers.info("BP_WORK", "agent_gpu-01");
      expect(mine.config.filter_subject).toBe("bp.work.gpu-01");
      expect((await ctl.jsm.consumers.info("BP_WORK", "agent_gpu-02")).config.filter_subject).toBe(
        "bp.work.gpu-02",
      );
    } finally {
      await ctl.close();
    }
    // gpu-02 still takes its own work.
    const r = await runBackplane(
      ["backends", "install", "piper", "--node", "gpu-02", "--wait", ...dashFlags()],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
  }, 90_000);

  it("the agent user reads no one else's replies, records or stream state", async () => {
    const user = "agent-gpu-01";
    const nc = await bare(user, "agent-pass");
    for (const subject of [
      "_INBOX.>",
      "_INBOX_dash.>",
      "_INBOX_controller.>",
      "_INBOX_agent-gpu-02.>",
      "bp.cancel.gpu-02.*",
      "bp.api.>",
      "$KV.bp_ops.>",
    ]) {
      await subscribeRefused(nc, user, subject);
    }
    await requestRefused(nc, user, "$JS.API.STREAM.INFO.KV_bp_ops", '{"subjects_filter":">"}');
    await requestRefused(nc, user, "$JS.API.STREAM.INFO.BP_WORK");
    await requestRefused(
      nc,
      user,
      "$JS.API.STREAM.MSG.GET.KV_bp_ops",
      '{"last_by_subj":"$KV.bp_ops.gpu-02.x"}',
    );
    await requestRefused(nc, user, "$JS.API.DIRECT.GET.KV_bp_ops", '{"last_by_subj":"$KV.bp_ops.gpu-02.x"}');
    await requestRefused(nc, user, "$JS.API.DIRECT.GET.KV_bp_ops.$KV.bp_ops.gpu-02.x");
    await requestRefused(nc, user, "$JS.API.DIRECT.GET.KV_bp_inventory.$KV.bp_inventory.gpu-02");
    await requestRefused(nc, user, "$JS.API.CONSUMER.CREATE.KV_bp_ops.x.$KV.bp_ops.>", "{}");
    await requestRefused(nc, user, "$JS.API.STREAM.NAMES");
    // What it may read: its own keys, by direct get.
    const own = await nc.request("$JS.API.DIRECT.GET.KV_bp_inventory.$KV.bp_inventory.gpu-01", "", {
      timeout: 2_000,
    });
    expect(text(own.data)).toContain('"nodeId":"gpu-01"');
  });

  it("the dashboard user reads no other user's replies and cannot signal agents", async () => {
    const user = "dash";
    const nc = await bare(user, "dash-pass");
    for (const subject of ["_INBOX.>", "_INBOX_agent-gpu-01.>", "_INBOX_controller.>", "bp.work.>"]) {
      await subscribeRefused(nc, user, subject);
    }
    nc.publish("bp.cancel.gpu-01.op1", "{}");
    nc.publish("_INBOX.x", "{}");
    await nc.flush();
    await waitFor("the refusals", () => refusedBy("Publish", user, "bp.cancel.gpu-01.op1"));
    await waitFor("the refusals", () => refusedBy("Publish", user, "_INBOX.x"));
    const agent = await bare("agent-gpu-01", "agent-pass");
    agent.publish("bp.cancel.gpu-02.op1", "{}");
    agent.publish("_INBOX_dash.x", "{}");
    await agent.flush();
    await waitFor("the refusals", () => refusedBy("Publish", "agent-gpu-01", "bp.cancel.gpu-02.op1"));
    await waitFor("the refusals", () => refusedBy("Publish", "agent-gpu-01", "_INBOX_dash.x"));
  });

  it("a record an agent writes under its own key but naming another node is not believed", async () => {
    const agent = await ClusterClient.connect({
      servers: [nats.url],
      user: "agent-gpu-01",
      pass: "agent-pass",
      attachOnly: { workConsumer: "agent_gpu-01" },
    });
    const now = Date.now();
    try {
      // An active op for gpu-02, under gpu-01's key: it must not make gpu-02's install "existing".
      const fake: OpRecord = {
        v: 1,
        id: "fakeop",
        nodeId: "gpu-02",
        kind: "install",
        backend: "piper",
        state: "running",
        requestedBy: "gpu-01",
        createdAt: now,
        updatedAt: now,
        attempts: 1,
        dismissed: false,
      };
      await agent.put("ops", "gpu-01.fakeop", fake);
      // gpu-01's inventory row, naming gpu-02 with an old piper.
      const real = (await agent.get("inventory", "gpu-01"))!.value;
      const piper = real.backends.find((b) => b.name === "piper")!;
      await agent.put("inventory", "gpu-01", {
        ...real,
        nodeId: "gpu-02",
        backends: [{ ...piper, metadata: { ...piper.metadata, version: "0.0.1" } }],
      });
    } finally {
      await agent.close();
    }
    const dropped = (key: string) =>
      procs[0]!
        .output()
        .split("\n")
        .filter((l) => l.includes("names another key") && l.includes(`"key":"${key}"`)).length;
    await waitFor(
      "the controller to drop both records",
      () => dropped("gpu-01.fakeop") > 0 && dropped("gpu-01") > 0,
    );
    const install = await runBackplane([
      "backends",
      "install",
      "piper",
      "--node",
      "gpu-02",
      "--json",
      ...dashFlags(),
    ]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).not.toContain("fakeop");
    const check = await runBackplane(["backends", "check", "--json", ...dashFlags()]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).not.toContain("0.0.1");
    const get = await runBackplane(["ops", "get", "fakeop", "--json", ...dashFlags()]);
    expect(get.code).not.toBe(0);
    // Reported once per key, however often it is read.
    expect(dropped("gpu-01.fakeop")).toBe(1);
    expect(dropped("gpu-01")).toBe(1);
  }, 60_000);
});
