import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { api } from "../../src/protocol/index.js";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { removeDir, stopProcess, tempDir, waitFor } from "../harness/proc.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("backplane demo --no-dash", () => {
  it("brings up four healthy nodes, installs on request, and leaves nothing behind", async () => {
    // An operator's own settings for their cluster must not leak into the demo's processes.
    const demo = spawnBackplane(["demo", "--no-dash", "--payload-mb", "1"], { BACKPLANE_PREFIX: "theirs" });
    try {
      const server = await waitFor(
        "the demo to print how to attach",
        () => {
          if (demo.child.exitCode !== null) throw new Error(`demo exited:\n${demo.output()}`);
          return /backplane dash --server (\S+)/.exec(demo.output())?.[1];
        },
        60_000,
        100,
      );
      const resources = /processes ([\d,]+); dirs (\S+)/.exec(demo.output());
      expect(resources).not.toBeNull();
      const pids = resources![1]!.split(",").map(Number);
      const dirs = resources![2]!.split(",");
      expect(pids.length).toBe(2 + 1 + 4); // nats, registry, controller, 4 agents

      await waitFor(
        "four healthy nodes",
        async () => {
          const r = await runBackplane(["nodes", "list", "--json", "--server", server]);
          if (r.code !== 0) return false;
          const { nodes } = api["nodes.list"].res.parse(JSON.parse(r.stdout));
          return nodes.filter((n) => n.status === "healthy").length === 4;
        },
        20_000,
        250,
      );

      const install = await runBackplane(
        ["backends", "install", "silero-vad", "--node", "node-4", "--wait", "--server", server],
        {},
        60_000,
      );
      expect(install.code, install.stderr).toBe(0);
      expect(install.stderr).toMatch(/node-4 .* silero-vad succeeded/);

      demo.child.kill("SIGINT");
      expect(await demo.exited).toBe(0);
      expect(demo.output()).toMatch(/stopped every process/);
      for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
      for (const dir of dirs) expect(existsSync(dir), dir).toBe(false);
    } finally {
      await stopProcess(demo, "SIGKILL");
    }
  }, 120_000);

  it("stops every process it started when its terminal closes (SIGHUP), and keeps no cache outside", async () => {
    const home = await tempDir("demo-home");
    const demo = spawnBackplane(["demo", "--no-dash", "--nodes", "1", "--payload-mb", "1"], {
      HOME: home,
      XDG_CACHE_HOME: join(home, ".cache"),
    });
    try {
      const resources = await waitFor(
        "the demo to list its processes",
        () => {
          if (demo.child.exitCode !== null) throw new Error(`demo exited:\n${demo.output()}`);
          return /backplane dash --server/.test(demo.output())
            ? /processes ([\d,]+); dirs (\S+)/.exec(demo.output())
            : undefined;
        },
        60_000,
        100,
      );
      const pids = resources[1]!.split(",").map(Number);
      expect(pids.length).toBe(2 + 1 + 1);
      demo.child.kill("SIGHUP");
      await demo.exited;
      for (const pid of pids) expect(alive(pid), `pid ${pid} outlived the demo`).toBe(false);
      for (const dir of resources[2]!.split(",")) expect(existsSync(dir), dir).toBe(false);
      expect(readdirSync(home, { recursive: true })).toEqual([]);
    } finally {
      await stopProcess(demo, "SIGKILL");
      await removeDir(home);
    }
  }, 120_000);
});
