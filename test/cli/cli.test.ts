import { rm, writeFile } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { BackendsListOutput } from "../../src/cli/backends.js";
import { writeBackendDir } from "../../src/demo/catalog.js";
import { DemoCluster } from "../../src/demo/cluster.js";
import { api, OpRecord, Refused } from "../../src/protocol/index.js";
import { runBackplane } from "../harness/backplane.js";
import { freePort, removeDir, tempDir } from "../harness/proc.js";

/** The real binary against a real local cluster (nats-server, registry, controller, two agents). */
describe("backplane CLI", () => {
  const cluster = new DemoCluster({ nodes: 2, payloadBytes: 32 * 1024, rateLimit: 1024 ** 3, log: () => {} });
  let server: string;
  const cli = (...args: string[]) => runBackplane([...args, "--server", server], {}, 60_000);
  const json = async <S extends z.ZodType>(schema: S, ...args: string[]): Promise<z.infer<S>> => {
    const r = await cli(...args, "--json");
    expect(r.code, r.stderr).toBe(0);
    return schema.parse(JSON.parse(r.stdout));
  };
  const WaitOutput = z.object({ ops: z.array(OpRecord), refused: z.array(Refused) });

  beforeAll(async () => {
    await cluster.start();
    server = cluster.serverUrl;
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
  });

  // First: it needs settings nobody has changed yet.
  it("settings get on a new cluster says the settings were never changed", async () => {
    const r = await cli("settings", "get");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^updated\s+never \(default\)$/m);
    expect(r.stdout).not.toMatch(/1970/);
  });

  it("nodes list --json matches the nodes.list schema", async () => {
    const res = await json(api["nodes.list"].res, "nodes", "list");
    expect(res.nodes.map((n) => n.id).sort()).toEqual(["node-1", "node-2"]);
  });

  it("backends install --wait succeeds and backends list shows it", async () => {
    const res = await json(WaitOutput, "backends", "install", "piper", "--node", "node-2", "--wait");
    expect(res.ops).toHaveLength(1);
    expect(res.ops[0]).toMatchObject({ nodeId: "node-2", backend: "piper", state: "succeeded" });
    const list = await json(BackendsListOutput, "backends", "list");
    expect(list.backends.find((b) => b.nodeId === "node-2" && b.name === "piper")?.metadata.version).toBe(
      "1.0.0",
    );
  });

  it("upgrade --all means every node that has it: nodes without it are not refusals", async () => {
    // piper is on node-2 only (installed above); node-1 must not make the command fail.
    for (const wait of [[], ["--wait"]]) {
      const r = await cli("backends", "upgrade", "piper", "--all", ...wait);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/refused/);
      expect(r.stderr).toMatch(/node-2/);
    }
  });

  it("gallery commands without --gallery ask the controller", async () => {
    const r = await cli("gallery", "resolve", "llama-cpp", "--capability", "nvidia-cuda-12", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ capability: "nvidia-cuda-12", ok: true, concrete: "cuda12-llama-cpp" }),
    ]);
    const listed = await cli("gallery", "list");
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^llama-cpp\s+meta\b/m);
    const shown = await cli("gallery", "show", "llama-cpp");
    expect(shown.stdout).toMatch(/^ {2}nvidia-cuda-12 -> cuda12-llama-cpp$/m);
    const unknown = await cli("gallery", "resolve", "no-such-backend");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown backend no-such-backend/);
  });

  it("installs an image no gallery lists (oci:// --name), recorded as such, and reinstalls it", async () => {
    const dir = await tempDir("external");
    try {
      const src = await writeBackendDir(dir, { name: "ext-tool", tag: "x", version: "2.0.0" }, 1024);
      const image = `${cluster.registryHost}/backends/ext-tool:2.0.0`;
      const pushed = await runBackplane(["publish", src, image]);
      expect(pushed.code, pushed.stderr).toBe(0);
      const noName = await cli("backends", "install", `oci://${image}`, "--node", "node-1");
      expect(noName.code).toBe(2);
      expect(noName.stderr).toMatch(/needs --name NAME/);
      const r = await json(
        WaitOutput,
        "backends",
        "install",
        `oci://${image}`,
        "--name",
        "ext-tool",
        "--node",
        "node-1",
        "--wait",
      );
      expect(r.ops[0]).toMatchObject({ backend: "ext-tool", state: "succeeded" });
      const list = await json(BackendsListOutput, "backends", "list", "--node", "node-1");
      const md = list.backends.find((b) => b.name === "ext-tool")?.metadata;
      expect(md).toMatchObject({ name: "ext-tool", uri: `oci://${image}` });
      expect(md?.gallery_url).toBeUndefined();
      const again = await cli("backends", "reinstall", "ext-tool", "--node", "node-1", "--wait");
      expect(again.code, again.stderr).toBe(0);
    } finally {
      await removeDir(dir);
    }
  });

  it("a meta install resolves per node and names the concrete", async () => {
    const res = await json(api["ops.install"].res, "backends", "install", "llama-cpp", "--node", "node-1");
    expect(res.admitted[0]).toMatchObject({
      nodeId: "node-1",
      concrete: "cuda12-llama-cpp",
      existing: false,
    });
  });

  it("an unknown backend and an impossible rollback are refused with the reason, exit 1", async () => {
    const unknown = await cli("backends", "install", "no-such-backend", "--node", "node-1");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown backend .*no-such-backend/);
    const rollback = await cli("backends", "rollback", "piper", "--node", "node-2", "--wait");
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toMatch(/refused: node-2: .*(previous|generation)/);
  });

  it("backends rollback --generation goes back to that kept generation; one not kept is refused", async () => {
    const generations = async () => {
      const list = await json(BackendsListOutput, "backends", "list", "--node", "node-2");
      const row = list.backends.find((b) => b.name === "piper")!;
      return { live: row.generation, kept: row.previousGenerations };
    };
    const before = await generations();
    await json(WaitOutput, "backends", "reinstall", "piper", "--node", "node-2", "--wait");
    const after = await generations();
    expect(after.kept[0]).toBe(before.live);
    const bad = await cli("backends", "rollback", "piper", "--node", "node-2", "--generation", "nope");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`refused: node-2: node node-2 keeps no generation nope of piper`);
    const res = await json(
      WaitOutput,
      ...["backends", "rollback", "piper", "--node", "node-2", "--generation", before.live!, "--wait"],
    );
    expect(res.ops[0]).toMatchObject({ generation: before.live, state: "succeeded" });
    expect(res.ops[0]!.result?.generation).toBe(before.live);
    expect((await generations()).live).toBe(before.live);
  });

  it("ops list, ops history, settings, upgrades and check print schema-valid JSON", async () => {
    const ops = await json(api["ops.list"].res, "ops", "list", "--all");
    expect(ops.ops.some((o) => o.backend === "piper" && o.state === "succeeded")).toBe(true);
    const history = await json(api["ops.history"].res, "ops", "history", "--limit", "20");
    expect(history.events.length).toBeGreaterThan(0);
    // Each op's outcome is in the history once (the controller records it; agents do not).
    const outcomes = history.events.filter((e) => e.kind === "op.state").map((e) => e.opId);
    expect(outcomes.length).toBeGreaterThan(0);
    expect(new Set(outcomes).size).toBe(outcomes.length);
    const set = await json(
      api["settings.set"].res,
      "settings",
      "set",
      "--auto-upgrade",
      "off",
      "--check-interval",
      "2h",
    );
    expect(set.settings).toMatchObject({ autoUpgrade: false, upgradeCheckIntervalSec: 7200 });
    const got = await json(api["settings.get"].res, "settings", "get");
    expect(got.settings.upgradeCheckIntervalSec).toBe(7200);
    await json(api["upgrades.check"].res, "backends", "check");
    // The round is on record even though it found nothing upgradable.
    expect((await cli("settings", "get")).stdout).toMatch(
      /^last-check\s+\d{4}-\d\d-\d\d [\d:]+: 0 upgradable/m,
    );
    await json(api["upgrades.list"].res, "backends", "upgrades");
  });

  it("records the OS user and host as the actor, also when $USER is unset", async () => {
    const r = await runBackplane(
      ["backends", "install", "piper", "--node", "node-1", "--wait", "--json", "--server", server],
      { USER: "", LOGNAME: "" },
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const opId = WaitOutput.parse(JSON.parse(r.stdout)).ops[0]!.id;
    const all = await json(api["ops.list"].res, "ops", "list", "--all");
    expect(all.ops.find((o) => o.id === opId)?.requestedBy).toBe(`cli:${userInfo().username}@${hostname()}`);
  });

  it("listings are sorted, and an unknown node is an error, not an empty list", async () => {
    const list = await json(BackendsListOutput, "backends", "list");
    const keys = list.backends.map((b) => `${b.nodeId}/${b.name}`);
    expect(keys.length).toBeGreaterThan(1);
    expect(keys).toEqual([...keys].sort());
    const ops = (await json(api["ops.list"].res, "ops", "list", "--all")).ops.map((o) => o.createdAt);
    expect(ops).toEqual([...ops].sort((a, b) => a - b));
    const unknown = await cli("backends", "list", "--node", "no-such-node");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown node no-such-node/);
  });

  it("completes node ids and backend names from the cluster", async () => {
    // the word being completed comes last, so the server comes from the environment
    const complete = (...words: string[]) =>
      runBackplane(["__complete", ...words], { BACKPLANE_SERVER: server });
    const nodes = await complete("backends", "install", "piper", "--node", "");
    expect(nodes.stdout.trim().split("\n")).toEqual(["node-1", "node-2"]);
    const backends = await complete("backends", "upgrade", "");
    expect(backends.stdout.split("\n")).toEqual(expect.arrayContaining(["llama-cpp", "piper"]));
  });

  it("ops cancel of an unknown op fails with a clear message", async () => {
    const r = await cli("ops", "cancel", "op-nope-000000");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/op-nope-000000/);
  });

  it("connects through a saved context: named with --context, or the current one", async () => {
    const dir = await tempDir("cli-config");
    try {
      const config = {
        configVersion: 1,
        contexts: [{ name: "lab", servers: [server] }],
        theme: "default",
        keys: {},
      };
      await writeFile(join(dir, "config.json"), JSON.stringify(config));
      const env = { BACKPLANE_CONFIG_DIR: dir };
      const named = await runBackplane(["nodes", "list", "--json", "--context", "lab"], env);
      expect(named.code, named.stderr).toBe(0);
      expect(api["nodes.list"].res.parse(JSON.parse(named.stdout)).nodes).toHaveLength(2);
      await writeFile(join(dir, "config.json"), JSON.stringify({ ...config, currentContext: "lab" }));
      const current = await runBackplane(["nodes", "list", "--json"], env);
      expect(current.code, current.stderr).toBe(0);
      const unknown = await runBackplane(["nodes", "list", "--context", "nope"], env);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/no context named "nope"/);
    } finally {
      await removeDir(dir);
    }
  });

  it("usage errors exit 2 and say what is wrong", async () => {
    const r = await cli("backends", "install", "piper");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--node ID\[,ID\], -l SELECTOR or --all/);
    // A malformed server is a usage error at once, not a wait for the connect timeout.
    const bad = await runBackplane(["nodes", "list", "--server", "http://nats.example:4222"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad server URL "http:\/\/nats.example:4222"/);
  });

  // Last: it breaks the registry for everything after it.
  it("a failing --wait exits non-zero with the error on stderr", async () => {
    const registryData = cluster.resources().dirs.find((d) => d.includes("registry"))!;
    await rm(join(registryData, "data", "docker", "registry", "v2", "blobs"), { recursive: true });
    const r = await cli("backends", "reinstall", "piper", "--node", "node-2", "--wait");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: node-2 piper: .+/m);
    const list = await json(BackendsListOutput, "backends", "list", "--node", "node-2");
    expect(list.backends.find((b) => b.name === "piper")?.metadata.version).toBe("1.0.0"); // old version still live
  });

  it("an unreachable server fails fast with the reason", async () => {
    const port = await freePort(); // picked by us, nobody listens there
    const r = await runBackplane([
      "nodes",
      "list",
      "--server",
      `nats://127.0.0.1:${port}`,
      "--connect-timeout",
      "1",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach NATS .* connection refused/);
  });
});
