import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { BackendsListOutput } from "../../src/cli/backends.js";
import { DemoCluster } from "../../src/demo/cluster.js";
import { waitFor } from "../../src/demo/processes.js";
import { api, OpRecord, Refused } from "../../src/protocol/index.js";
import { Rollout } from "../../src/protocol/rollout.js";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";

/**
 * `backplane rollouts ...` and `-l/--selector` on op commands: the real binary against a real
 * local cluster (nats-server, registry, controller, three labelled agents).
 */
describe("backplane rollouts (CLI)", () => {
  const zones = ["a", "b", "a"];
  // The set-up's steps with their times, shown with the children's logs if it never finishes.
  const setup: string[] = [];
  const t0 = Date.now();
  let ready = false;
  const cluster = new DemoCluster({
    nodes: 3,
    payloadBytes: 32 * 1024,
    rateLimit: 1024 ** 3,
    log: (line) => setup.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${line}`),
    labels: (i) => [`zone=${zones[i - 1]}`],
  });
  let server: string;
  const cli = (...args: string[]) => runBackplane([...args, "--server", server], {}, 60_000);
  const json = async <S extends z.ZodType>(schema: S, ...args: string[]): Promise<z.infer<S>> => {
    const r = await cli(...args, "--json");
    expect(r.code, r.stderr).toBe(0);
    return schema.parse(JSON.parse(r.stdout));
  };
  const WaitOutput = z.object({ ops: z.array(OpRecord), refused: z.array(Refused) });
  const Got = api["rollouts.get"].res;
  const versionOn = async (node: string): Promise<string | undefined> => {
    const list = await json(BackendsListOutput, "backends", "list", "--node", node);
    return list.backends.find((b) => b.name === "cuda12-llama-cpp")?.metadata.version;
  };

  beforeAll(async () => {
    await cluster.start();
    server = cluster.serverUrl;
    await waitFor(
      "labels in node records",
      async () => (await cluster.client!.call("nodes.list", {})).nodes.every((n) => n.last.labels.zone),
      20_000,
    );
    ready = true;
  }, 90_000);
  afterAll(async () => {
    const stalled = ready
      ? ""
      : `set-up never finished; its steps:\n${setup.join("\n")}\n${cluster.childLogs()}`;
    await cluster.stop();
    if (stalled) throw new Error(stalled);
  });

  it("backends install -l installs on exactly the matching nodes; a selector nothing matches is an error", async () => {
    const a = await json(WaitOutput, "backends", "install", "llama-cpp", "-l", "zone=a", "--wait");
    expect(a.ops.map((o) => o.nodeId).sort()).toEqual(["node-1", "node-3"]);
    expect(a.ops.every((o) => o.state === "succeeded")).toBe(true);
    const b = await json(
      WaitOutput,
      "backends",
      "install",
      "llama-cpp",
      "--selector",
      "zone notin (a)",
      "--wait",
    );
    expect(b.ops.map((o) => o.nodeId)).toEqual(["node-2"]);

    const none = await cli("backends", "reinstall", "llama-cpp", "-l", "zone=nowhere");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no node matches the selector zone=nowhere/);
    const bad = await cli("backends", "delete", "llama-cpp", "-l", "zone in (a");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/selector/);
    const both = await cli("backends", "delete", "llama-cpp", "-l", "zone=a", "--node", "node-1");
    expect(both.code).toBe(2);

    const hint = await cli("backends", "upgrade", "llama-cpp", "--all");
    expect(hint.code, hint.stderr).toBe(0);
    expect(hint.stderr).toMatch(/backplane rollouts start llama-cpp/);
    // cuda12-llama-cpp 1.1.0: node-1 and node-2 can move; node-3's rocm build stays current.
    await cluster.publishUpgrades(["cuda12-llama-cpp", "piper"]);
  }, 120_000);

  it("plan --json with a selector: only matching nodes, changes nothing", async () => {
    const { plan } = await json(
      api["rollouts.plan"].res,
      "rollouts",
      "plan",
      "llama-cpp",
      "-l",
      "zone=a",
      "--waves",
      "1,100%",
      "--soak",
      "5s",
    );
    expect(plan.targeting).toEqual({ kind: "selector", selector: "zone=a" });
    expect(plan.waves.flat().map((m) => m.nodeId)).toEqual(["node-1"]);
    expect(plan.waves[0]![0]).toMatchObject({ from: { version: "1.0.0" }, to: { version: "1.1.0" } });
    const mentioned = [...plan.waves.flat().map((m) => m.nodeId), ...plan.skipped.map((s) => s.nodeId)];
    expect(mentioned).not.toContain("node-2");
    expect(plan.strategy).toMatchObject({ waves: ["1", "100%"], soakMs: 5000 });
    const text = await cli("rollouts", "plan", "llama-cpp", "--node", "node-1,node-2");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^1\s+node-1\s+cuda12-llama-cpp\s+1\.0\.0\s+1\.1\.0$/m);
    expect((await json(api["rollouts.list"].res, "rollouts", "list", "--all")).rollouts).toEqual([]);
    expect(await versionOn("node-1")).toBe("1.0.0");
  });

  it("pause holds, resume continues, abort reverts what moved; list, get, watch, dismiss", async () => {
    const started = await json(
      Rollout,
      "rollouts",
      "start",
      "llama-cpp",
      "--node",
      "node-1,node-2",
      "--waves",
      "1,100%",
      "--soak",
      "10m",
    );
    const id = started.id;
    expect(started.strategy).toMatchObject({ waves: ["1", "100%"], soakMs: 600_000, autoPromote: true });

    const paused = await json(api["rollouts.pause"].res, "rollouts", "pause", id, "--reason", "lunch");
    expect(paused.rollout).toMatchObject({ state: "paused", reason: "lunch" });
    const got = await json(Got, "rollouts", "get", id);
    expect(got.rollout.state).toBe("paused");
    expect(got.nodes.map((n) => n.node).sort()).toEqual(["node-1", "node-2"]);
    const listed = await cli("rollouts", "list");
    expect(listed.stdout).toMatch(
      new RegExp(`^${id}\\s+llama-cpp\\s+1\\.1\\.0\\s+paused\\b.*\\blunch$`, "m"),
    );

    const resumed = await json(api["rollouts.resume"].res, "rollouts", "resume", id);
    expect(resumed.rollout.state).toBe("running");
    // Wave 1 (node-1) upgrades, then its 10-minute soak holds node-2 back.
    await waitFor(
      "node-1 upgraded by the rollout",
      async () => (await json(Got, "rollouts", "get", id)).nodes.find((n) => n.node === "node-1")?.o === "ok",
      60_000,
      250,
    );
    expect(await versionOn("node-1")).toBe("1.1.0");
    const shown = await cli("rollouts", "get", id);
    expect(shown.stdout).toMatch(/^state\s+running$/m);
    expect(shown.stdout).toMatch(/^node-2\s+2\s+wait\b/m);

    // Ctrl-C while watching leaves the rollout running and says how to stop it.
    const interrupted = spawnBackplane(["rollouts", "watch", id, "--server", server]);
    await waitFor("watch to print its first line", () =>
      interrupted.output().includes(`${id} llama-cpp running`),
    );
    interrupted.child.kill("SIGINT");
    expect(await interrupted.exited).toBe(130);
    expect(interrupted.output()).toMatch(`rollout ${id} keeps running`);
    expect((await json(Got, "rollouts", "get", id)).rollout.state).toBe("running");

    const watching = cli("rollouts", "watch", id);
    const aborted = await cli("rollouts", "abort", id);
    expect(aborted.code, aborted.stderr).toBe(0);
    const watched = await watching;
    expect(watched.code).toBe(1); // it did not succeed
    expect(watched.stdout).toMatch(new RegExp(`^\\S+ \\S+ ${id} llama-cpp aborted\\b`, "m"));
    expect(await versionOn("node-1")).toBe("1.0.0");
    expect(await versionOn("node-2")).toBe("1.0.0");

    const dismissed = await json(api["rollouts.dismiss"].res, "rollouts", "dismiss", id);
    expect(dismissed.rollout.dismissed).toBe(true);
    expect((await json(api["rollouts.list"].res, "rollouts", "list")).rollouts).toEqual([]);
    const all = await json(api["rollouts.list"].res, "rollouts", "list", "--all");
    expect(all.rollouts.map((r) => [r.id, r.state])).toEqual([[id, "aborted"]]);
  }, 120_000);

  it("start --wait --json blocks until it succeeds and prints the ended record; text --wait prints progress", async () => {
    const ended = await json(
      Rollout,
      "rollouts",
      "start",
      "llama-cpp",
      "-l",
      "zone=b",
      "--soak",
      "0",
      "--wait",
    );
    expect(ended).toMatchObject({ state: "succeeded", targeting: { kind: "selector", selector: "zone=b" } });
    expect(ended.counts).toMatchObject({ done: 1, failed: 0 });
    expect(await versionOn("node-2")).toBe("1.1.0");
    expect(await versionOn("node-1")).toBe("1.0.0");
    const watched = await cli("rollouts", "watch", ended.id, "--json");
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout
      .trim()
      .split("\n")
      .map((l) => Rollout.parse(JSON.parse(l)));
    expect(lines.map((r) => [r.id, r.state])).toEqual([[ended.id, "succeeded"]]);

    const text = await cli("rollouts", "start", "llama-cpp", "--node", "node-1", "--soak", "0", "--wait");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^started \S+ \(waves 1,10%,50%,100%/m);
    expect(text.stdout).toMatch(/^\S+ \S+ \S+ llama-cpp succeeded wave 1\/1 · 1 done, 0 running, 0 failed/m);
    expect(await versionOn("node-1")).toBe("1.1.0");
  }, 120_000);
});
