import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoCluster } from "../../../src/demo/cluster.js";
import { galleryYaml, initialBuilds, tagFor, writeBackendDir } from "../../../src/demo/catalog.js";
import { buildImage, parseImageRef, pushImage, RegistryClient } from "../../../src/oci/index.js";
import { removeDir, tempDir } from "../../harness/proc.js";
import { TmuxDash } from "../helpers/tmux.js";

const MiB = 1024 * 1024;

/**
 * The whole product, driven from the keyboard: nats-server, docker-registry, a controller and two
 * agents (the demo cluster, real processes), and the dashboard binary in tmux.
 */
describe("dashboard against a real cluster (controller + two agents) in tmux", () => {
  let demo: DemoCluster;
  let t: TmuxDash;
  let configDir: string;
  let registryHost: string;

  beforeAll(async () => {
    // 6 MiB at 2 MiB/s: an install takes ~3 s, long enough to watch and to cancel.
    demo = new DemoCluster({ nodes: 2, payloadBytes: 6 * MiB, rateLimit: 2 * MiB, log: () => {} });
    await demo.start();
    const gallery = readFileSync(join(demo.workDir, "index.yaml"), "utf8");
    registryHost = /uri: (\S+)\/local-ai-backends:/.exec(gallery)![1]!;
    configDir = await tempDir("dash-e2e-cluster");
    t = await TmuxDash.start(
      ["dash", "--server", demo.serverUrl],
      { BACKPLANE_CONFIG_DIR: configDir },
      120,
      32,
    );
    await t.waitFor(/node-1.*\n.*node-2|node-2.*\n.*node-1/, "both nodes in the Nodes view", 30_000);
  }, 120_000);

  afterAll(async () => {
    await t?.kill();
    await demo?.stop();
    if (configDir) await removeDir(configDir);
  });

  /** Back to the Nodes view with no prompt, filter or dialog open, first row selected. */
  async function home() {
    await t.press("esc", "esc", "esc", "esc", "1", "esc", "g");
    await t.waitFor(/^Nodes \[1\/2\]/m, "the Nodes view");
  }

  /** Push a build under an existing tag (same version), e.g. a bigger one. */
  async function pushBuild(name: string, version: string, payloadBytes: number) {
    const b = { name, tag: tagFor(name), version };
    const dir = await writeBackendDir(join(demo.workDir, "src-e2e"), b, payloadBytes);
    const img = await buildImage([dir], { annotations: { "org.opencontainers.image.version": version } });
    try {
      await pushImage(new RegistryClient(), parseImageRef(`${registryHost}/local-ai-backends:${b.tag}`), img);
    } finally {
      await img.dispose();
      await removeDir(dir);
    }
  }

  /** Publish piper 1.1.0 (the tag moves) and raise its gallery version, without running a check. */
  async function publishPiper(version: string) {
    await pushBuild("piper", version, MiB);
    const b = { name: "piper", tag: tagFor("piper"), version };
    const builds = initialBuilds().map((x) => (x.name === "piper" ? b : x));
    await writeFile(join(demo.workDir, "index.yaml"), galleryYaml(registryHost, builds));
  }

  it("installs a backend on one node from the keyboard and watches its bar reach 100 %", async () => {
    await home(); // node-1 selected
    await t.press("i");
    await t.waitFor("Install › choose a backend", "the gallery");
    await t.press("/", "piper", "enter");
    await t.waitFor(/› piper/, "piper selected in the gallery");
    await t.press("enter");
    const pick = await t.waitFor(/\[x\] node-1.*piper/, "node-1 preselected and resolved");
    expect(pick).toMatch(/\[ \] node-2/);
    await t.press("enter");
    await t.waitFor(/install piper: 1 admitted/, "the admission toast");
    await t.waitFor(/install piper @node-1\s+▶ download/, "the live bar", 20_000);
    await t.waitFor(/install piper @node-1\s+✓ done\s+█+ 100%/, "the bar at 100 %", 30_000);
    await t.press("2");
    await t.waitFor(/piper\s+1\.0\.0\s+·/, "the version in the Backends view (node-1 column)", 15_000);
  });

  it("shows ↑ after U once a new version is published, and upgrades it with u", async () => {
    await publishPiper("1.1.0");
    // The controller picks the new gallery up within its refresh period: U until the badge shows.
    for (let i = 0; ; i++) {
      await t.press("U");
      await t.waitFor(/upgrade check: \d+ backends? upgradable/, "the check result");
      const seen = await t.waitFor(/piper\s+1\.0\.0↑/, "the ↑ badge on node-1", 3_000).catch(() => null);
      if (seen) break;
      if (i >= 5) throw new Error(`no ↑ badge after ${i + 1} checks:\n${await t.capture()}`);
    }
    await t.press("/", "piper", "enter", "enter");
    await t.waitFor(/Backends › piper/, "the per-node view of piper");
    await t.waitFor(/› node-1/, "node-1 selected");
    await t.press("u");
    await t.waitFor("Upgrade piper", "the confirm dialog");
    await t.press("y");
    await t.waitFor(/upgrade piper: 1 admitted/, "the admission toast");
    await t.waitFor(/node-1\s+✓ healthy\s+1\.1\.0/, "the new version on node-1", 30_000);
  });

  it("cancels an install in flight with c", async () => {
    // 40 MiB at 2 MiB/s: ~20 s of download, so the cancel lands mid-flight.
    await pushBuild("cuda12-whisper", "1.0.0", 40 * MiB);
    await home();
    await t.press("G");
    // i preselects the selected node: press it only once the selection is on node-2.
    await t.waitFor(/^Nodes \[2\/2\]/m, "node-2 selected");
    // Type only once the picker is open and wait for each step: keys sent ahead are lost under load.
    await t.press("i");
    await t.waitFor("Install › choose a backend", "the picker");
    await t.press("/", "whisper", "enter");
    await t.waitFor(/› whisper/, "whisper selected in the gallery");
    await t.press("enter");
    // Enter installs only the picked nodes whose build has resolved; before that it only warns.
    await t.waitFor(/\[x\] node-2.*cuda12-whisper/, "node-2 preselected and resolved");
    await t.press("enter");
    await t.waitFor(/install whisper: 1 admitted/);
    await t.waitFor(/› install whisper @node-2\s+(▶|○)/, "the op selected in Operations");
    await t.press("c");
    await t.waitFor("Cancel 1 operation");
    await t.press("y");
    await t.waitFor(/install whisper @node-2\s+⊘ (cancelling|cancelled)/, "the cancellation", 20_000);
  }, 60_000);

  it("shows a failed install with its error, opens its detail with enter and dismisses it with x", async () => {
    // Replace silero-vad's image with one that has no run.sh: the agent must refuse to activate it.
    const dir = await tempDir("broken-backend");
    try {
      await writeFile(join(dir, "README"), "no run.sh in here\n");
      const img = await buildImage([dir], {});
      try {
        await pushImage(
          new RegistryClient(),
          parseImageRef(`${registryHost}/local-ai-backends:${tagFor("silero-vad")}`),
          img,
        );
      } finally {
        await img.dispose();
      }
    } finally {
      await removeDir(dir);
    }

    await home();
    // Type only once the picker is open and wait for each step: keys sent ahead are lost under load.
    await t.press("i");
    await t.waitFor("Install › choose a backend", "the picker");
    await t.press("/", "silero", "enter");
    await t.waitFor(/› silero-vad/, "silero-vad selected in the gallery");
    await t.press("enter");
    await t.waitFor(/\[x\] node-1.*silero-vad/, "node-1 preselected and resolved");
    await t.press("enter");
    await t.waitFor(/install silero-vad: 1 admitted/, "the admission toast");
    await t.waitFor(/install silero-vad @node-1\s+✗ failed\s+\w/, "the failure with its error", 40_000);
    // Enter opens the op: its whole error and its audit trail; x dismisses it from there.
    await t.press("3", "/", "silero", "enter", "enter");
    await t.waitFor("Operations › install silero-vad @node-1", "the op detail view");
    const detail = await t.waitFor(/op\.state by [^\n]*failed/, "the op's audit events", 15_000);
    expect(detail).toMatch(/error\s+\S/);
    expect(detail).toMatch(/phases\s+resolve\s+\d\d:\d\d:\d\d/);
    expect(detail).toMatch(/events\s+\d\d:\d\d:\d\d op\.created by /);
    await t.press("x");
    await t.waitFor(/dismiss: done for 1 operation/);
    await t.press("esc");
    await t.waitFor((s) => !s.includes("install silero-vad @node-1"), "the failed op gone", 15_000);
  }, 60_000);

  it("quits with q and leaves the terminal sane", async () => {
    await home();
    await t.press("q");
    const screen = await t.waitFor("EXITED=");
    expect(screen).toContain("EXITED=0");
    expect(/STTY: (.*)/.exec(screen)?.[1]).toMatch(/(^|\s)icanon(\s|$)/);
  });
});
