import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import type { Heartbeat } from "../../src/protocol/index.js";
import { api, type Inventory } from "../../src/protocol/index.js";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { removeDir, stopProcess, tempDir, waitFor, type Spawned } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";

const CONF = new URL("../../deploy/nats-server.conf", import.meta.url);

/** The permission blocks exactly as deploy/nats-server.conf ships them. */
async function shippedPermissions(): Promise<string> {
  const text = await readFile(CONF, "utf8");
  const start = text.indexOf("# --- permissions:start");
  const end = text.indexOf("# --- permissions:end");
  if (start < 0 || end < 0) throw new Error("permission markers missing from deploy/nats-server.conf");
  return text.slice(start, end);
}

const users = `
authorization {
  users: [
    { user: controller, password: ctl-pass }
    { user: dash, password: dash-pass, permissions: $DASHBOARD }
    { user: agent-gpu-01, password: agent-pass, permissions: $AGENT_GPU_01 }
  ]
}`;

describe("deploy/nats-server.conf permissions, on a real server", () => {
  let nats: NatsServer;
  let registry: Registry;
  let dir: string;
  const procs: Spawned[] = [];
  const as = (user: string, pass: string) => ["--server", nats.url, "--user", user, "--password", pass];

  beforeAll(async () => {
    nats = await NatsServer.start({ extraConfig: (await shippedPermissions()) + users });
    registry = await Registry.start();
    dir = await tempDir("perm");
    const { ref } = await pushBackendImage(registry, "backends/piper", "1.0.0", {});
    const gallery = join(dir, "index.yaml");
    await writeFile(gallery, `- name: piper\n  uri: ${ref}\n  version: 1.0.0\n`);
    procs.push(spawnBackplane(["controller", ...as("controller", "ctl-pass"), "--gallery", gallery]));
    procs.push(
      spawnBackplane([
        "agent",
        ...as("agent-gpu-01", "agent-pass"),
        "--node-id",
        "gpu-01",
        "--backends-dir",
        join(dir, "backends"),
        "--capability",
        "default",
      ]),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await Promise.all([nats?.dispose(), registry?.dispose()]);
    if (dir) await removeDir(dir);
  });

  it("a confined agent and a confined dashboard user install a backend end to end", async () => {
    const dash = as("dash", "dash-pass");
    await waitFor(
      "gpu-01 to be healthy",
      async () => {
        const r = await runBackplane(["nodes", "list", "--json", ...dash]);
        return (
          r.code === 0 &&
          api["nodes.list"].res.parse(JSON.parse(r.stdout)).nodes.some((n) => n.status === "healthy")
        );
      },
      20_000,
      250,
    );
    const r = await runBackplane(
      ["backends", "install", "piper", "--node", "gpu-01", "--wait", ...dash],
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
    expect(nats.output()).not.toMatch(/Permissions Violation.*agent-gpu-01/);
  }, 90_000);

  it("the agent user cannot speak for another node", async () => {
    const agent = await ClusterClient.connect({
      servers: [nats.url],
      user: "agent-gpu-01",
      pass: "agent-pass",
    });
    try {
      const fake: Inventory = { v: 1, nodeId: "gpu-02", updatedAt: Date.now(), backends: [] };
      await expect(agent.put("inventory", "gpu-02", fake)).rejects.toThrow();
      agent.publish(agent.subjects.heartbeat("gpu-02"), { nodeId: "gpu-02" } satisfies Partial<Heartbeat>);
      await agent.nc.flush();
      await waitFor("the server to refuse the heartbeat", () =>
        /permissions violation .*publish.*bp\.node\.gpu-02\.heartbeat/i.test(agent.status.reason ?? ""),
      );
    } finally {
      await agent.close();
    }
    const admin = await ClusterClient.connect({ servers: [nats.url], user: "controller", pass: "ctl-pass" });
    try {
      expect(await admin.get("inventory", "gpu-02")).toBeNull();
      expect((await admin.get("inventory", "gpu-01"))?.value.backends.some((b) => b.name === "piper")).toBe(
        true,
      );
    } finally {
      await admin.close();
    }
  });
});
