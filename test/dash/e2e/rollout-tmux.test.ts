import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoCluster } from "../../../src/demo/cluster.js";
import { isTerminal } from "../../../src/protocol/index.js";
import { removeDir, tempDir, waitFor } from "../../harness/proc.js";
import { TmuxDash } from "../helpers/tmux.js";

const MiB = 1024 * 1024;

/**
 * A rollout from the keyboard at 80×24, as `make demo` offers it: the demo cluster (real
 * nats-server, registry, controller and four agents) with llama-cpp on every node and a newer
 * build of it for every capability; `u` shows the plan and starts the rollout, whose default
 * 60 s soak after wave 1 leaves time to watch the waves, pause with `p` and abort with `A`.
 */
describe("a rollout in the dashboard (tmux, 80×24, real cluster)", () => {
  let demo: DemoCluster;
  let t: TmuxDash;
  let configDir: string;

  /** The version of llama-cpp's build live on each node, from the inventory its agent writes. */
  async function llamaVersions(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const id of demo.nodeIds()) {
      const inv = await demo.client!.get("inventory", id);
      const meta = inv?.value.backends.find((b) => b.name === "llama-cpp");
      const concrete = inv?.value.backends.find((b) => b.name === meta?.metadata.meta_backend_for);
      out[id] = concrete?.metadata.version;
    }
    return out;
  }

  beforeAll(async () => {
    // 6 MiB at 2 MiB/s: each upgrade downloads for ~3 s, long enough to see it running.
    demo = new DemoCluster({ nodes: 4, payloadBytes: 6 * MiB, rateLimit: 2 * MiB, log: () => {} });
    await demo.start();
    const client = demo.client!;
    const r = await client.call("ops.install", {
      backend: "llama-cpp",
      nodes: demo.nodeIds(),
      actor: "test",
    });
    expect(r.admitted).toHaveLength(4);
    await waitFor(
      "llama-cpp installed on the four nodes",
      async () => {
        const ops = await Promise.all(r.admitted.map((a) => client.call("ops.get", { opId: a.opId })));
        const ended = ops.filter((o) => isTerminal(o.op));
        if (ended.some((o) => o.op.state !== "succeeded"))
          throw new Error(`an install failed: ${JSON.stringify(ended.map((o) => o.op))}`);
        return ended.length === 4;
      },
      60_000,
      250,
    );
    await demo.publishUpgrades(); // 1.1.0 of every llama-cpp build (and piper)
    expect(Object.values(await llamaVersions())).toEqual(["1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
    configDir = await tempDir("dash-e2e-rollout");
    t = await TmuxDash.start(
      ["dash", "--server", demo.serverUrl],
      { BACKPLANE_CONFIG_DIR: configDir },
      80,
      24,
    );
    await t.waitFor(/^Nodes \[/m, "the Nodes view", 30_000);
  }, 180_000);

  afterAll(async () => {
    await t?.kill();
    await demo?.stop();
    if (configDir) await removeDir(configDir);
  });

  it("u shows the plan and starts the rollout; its waves and bars show; p pauses; A aborts and reverts", async () => {
    await t.press("2");
    await t.waitFor(/^Backends \[/m, "the Backends view");
    await t.press("/", "llama-cpp", "enter");
    // The meta, llama-cpp, is the row to upgrade: it moves every node whatever its capability.
    // By name: cpu-llama-cpp, cuda12-llama-cpp, llama-cpp (meta), rocm-llama-cpp.
    await t.press("g");
    await t.waitFor(/^› cpu-llama-cpp/m, "the first row selected");
    await t.press("j", "j");
    await t.waitFor(/^› llama-cpp \(meta\)/m, "llama-cpp selected");
    await t.press("u");
    const plan = await t.waitFor(/Roll out llama-cpp 1\.0\.0 → 1\.1\.0/, "the plan in the dialog");
    expect(plan).toContain("4 nodes, in 3 waves:");
    expect(plan).toMatch(/wave 1\s+1 node\s+node-\d/);
    expect(plan).toMatch(/wave 2\s+1 node\s+node-\d/);
    expect(plan).toMatch(/wave 3\s+2 nodes\s+node-\d, node-\d/);
    expect(plan).toMatch(/soak 1m00s/);
    expect(plan).toMatch(/\[ No \]\s+\[ Start rollout \]/);
    await t.press("y");

    // The rollout's detail opens: its waves, wave 1's node upgrading with its op's bar.
    await t.waitFor(/^Rollouts › llama-cpp 1\.0\.0 → 1\.1\.0/m, "the rollout's detail");
    const running = await t.waitFor(/node-\d\s+running\s+\S*[█░]/, "wave 1's node upgrading, with its bar");
    expect(running).toMatch(/wave 1\s+1 node · current/);
    expect(running).toMatch(/wave 2\s+1 node · not started/);
    expect(running).toMatch(/wave 3\s+2 nodes · not started/);
    expect(running.split("\n")[1]).toContain("rollouts ▶1");
    // Wave 1 done: its soak counts down (60 s by default), the failure budget untouched.
    const soak = await t.waitFor(/gate\s+soak \d+s left of 1m00s/, "wave 1's soak", 60_000);
    expect(soak).toMatch(/node-\d\s+✓ done/);
    expect(soak).toMatch(/failures\s+0 of 0 allowed/);
    const wave1 = /(node-\d)\s+✓ done/.exec(soak)![1]!;

    // The Rollouts view: one row, wave 1/3, a bar of 1 done and 3 waiting.
    await t.press("6");
    const row = await t.waitFor(/llama-cpp .*1\/3\s+█+░+ 1\/4\s+running/, "the rollout's row and bar");
    expect(row).toMatch(/^Rollouts \[1\/1\]\s+1 active/m);

    await t.press("p");
    await t.waitFor(/rollout llama-cpp 1\.0\.0 → 1\.1\.0 is paused/, "the pause confirmed");
    await t.waitFor(/llama-cpp .*1\/3\s+█+░+ 1\/4\s+paused/, "the row paused");

    await t.press("A");
    const abort = await t.waitFor(/Abort rollout llama-cpp 1\.0\.0 → 1\.1\.0/, "the abort dialog");
    expect(abort).toContain("Reverted to the generation they had before, no download (1 node):");
    expect(abort).toMatch(new RegExp(`1\\.1\\.0 → 1\\.0\\.0\\s+1 node\\s+${wave1}`));
    expect(abort).toContain("No op is in flight: nothing to cancel.");
    expect(abort).toContain("3 waiting nodes are not touched.");
    expect(await llamaVersions()).toMatchObject({ [wave1]: "1.1.0" });
    await t.press("y");

    // How it ended: the row, a toast, and the nodes back where they were.
    const ended = await t.waitFor(
      /^[› ] llama-cpp .* \d+\/4 aborted\s/m,
      "the rollout's row aborted",
      60_000,
    );
    expect(ended).not.toContain("rollouts ▶");
    await waitFor(
      "every node back on llama-cpp 1.0.0",
      async () => Object.values(await llamaVersions()).every((v) => v === "1.0.0"),
      30_000,
      250,
    );
    await t.press("enter");
    const detail = await t.waitFor(new RegExp(`${wave1}\\s+↺ reverted`), "the node reverted in the detail");
    expect(detail).toMatch(/state\s+aborted/);
    expect(detail).toMatch(/wave 1\s+1 node · aborted in it/);
    expect(detail).toMatch(/wave 3\s+2 nodes · never started/);
    expect(detail).toMatch(/node-\d\s+untouched/);
    await t.press("4");
    await t.waitFor(/rollout\s.*llama-cpp\s.*aborted/, "the end in History");
  }, 240_000);
});
