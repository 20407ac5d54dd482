import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { opKey } from "../../../src/protocol/index.js";
import { NatsServer } from "../../harness/nats-server.js";
import { freePort, removeDir, tempDir } from "../../harness/proc.js";
import { NOW, progress, smallCluster } from "../helpers/cluster.js";
import { startResponder } from "../helpers/responder.js";
import { TmuxDash } from "../helpers/tmux.js";

const DIST = fileURLToPath(new URL("../../../dist/cli/dash-screen.js", import.meta.url));

/** The terminal is sane again: canonical mode and echo on, the dashboard's screen gone. */
function expectSaneAfterExit(screen: string, code: number) {
  expect(screen).toContain(`EXITED=${code}`);
  const stty = /STTY: (.*)/.exec(screen)?.[1] ?? "";
  expect(stty).toMatch(/(^|\s)icanon(\s|$)/);
  expect(stty).toMatch(/(^|\s)echo(\s|$)/);
  expect(screen).not.toContain("backplane ctx");
}

describe("backplane dash in tmux (real binary, real nats-server)", () => {
  let server: NatsServer;
  let client: ClusterClient;
  let configDir: string;
  const sessions: TmuxDash[] = [];

  beforeAll(async () => {
    if (!existsSync(DIST))
      throw new Error("dist/ is missing: run `npx tsc -p tsconfig.build.json` before this test");
    server = await NatsServer.start();
    client = await ClusterClient.connect({ servers: [server.url] });
    const f = smallCluster();
    for (const n of f.nodes!) await client.put("nodes", n.id, n);
    for (const i of f.inventories!) await client.put("inventory", i.nodeId, i);
    for (const o of f.ops!) await client.put("ops", opKey(o.nodeId, o.id), o);
    for (const u of f.upgrades!) await client.put("upgrades", u.backend, u);
    await client.put("settings", "cluster", f.settings!);
    configDir = await tempDir("dash-e2e-config");
  });
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.kill()));
  });
  afterAll(async () => {
    await client?.close();
    await server?.dispose();
    if (configDir) await removeDir(configDir);
  });

  const open = async (args: string[], env: Record<string, string> = {}) => {
    const s = await TmuxDash.start(["dash", ...args], { BACKPLANE_CONFIG_DIR: configDir, ...env });
    sessions.push(s);
    return s;
  };

  it("opens full screen at 80×24, stays aligned while data streams in, answers keys, and restores the terminal on q", async () => {
    const responder = startResponder(client, {
      "upgrades.check": () => ({ upgrades: smallCluster().upgrades!, checkedAt: NOW, headRequests: 2 }),
    });
    try {
      const t = await open(["--server", server.url]);
      let screen = await t.waitFor("cpu-01", "the node list");
      let lines = screen.split("\n");
      expect(lines[0]).toMatch(/^backplane ctx one-off .*● connected/);
      expect(lines[2]).toMatch(/^Nodes \[1\/3\]/);
      expect(lines[22]).toMatch(/^\? help/);

      await t.press("3");
      await t.waitFor("install whisper @gpu-01", "the operations view");
      const run = smallCluster().ops![0]!;
      for (let i = 1; i <= 30; i++) {
        client.publish(
          client.subjects.progress(run.nodeId, run.id),
          progress(run, (i * 200 * 2 ** 20) / 40, 200 * 2 ** 20, NOW + i),
        );
      }
      screen = await t.waitFor("150M/200M", "the last progress value");
      lines = screen.split("\n");
      // Still aligned after many redraws: header on the first row, footer on the last.
      expect(lines[0]).toMatch(/^backplane ctx/);
      expect(lines[3]).toMatch(/^ {2}OPERATION/);
      expect(lines[22]).toMatch(/^\? help/);
      expect(screen).toMatch(/install whisper @gpu-01\s+▶ download\s+█+░*\s+75%/);

      await t.press("U");
      await t.waitFor("upgrade check: 1 backend upgradable", "the toast of a command");
      await t.press("q");
      expectSaneAfterExit(await t.waitFor("EXITED=", "the dashboard to exit"), 0);
    } finally {
      responder.stop();
    }
  });

  /* eslint-disable no-control-regex -- this test is about escape sequences */
  it("honours NO_COLOR: no colour codes on screen", async () => {
    const t = await open(["--server", server.url], { NO_COLOR: "1" });
    await t.waitFor("cpu-01");
    const colored = await t.capture(true);
    expect(colored).not.toMatch(/\u001B\[(?:3\d|9\d|38;)/);
    const t2 = await open(["--server", server.url]);
    await t2.waitFor("cpu-01");
    expect(await t2.capture(true)).toMatch(/\u001B\[(?:3\d|9\d|38;)/);
  });

  it("opens against an unreachable cluster, says why, keeps retrying, and quits on ctrl+c", async () => {
    const port = await freePort();
    const t = await open(["--server", `nats://127.0.0.1:${port}`]);
    const screen = await t.waitFor(/cannot connect \(attempt [2-9]/, "a few retries");
    expect(screen).toMatch(/connection refused: is nats-server running there\?/);
    expect(screen).toContain("waiting for the nodes bucket");
    await t.press("ctrl+c");
    expectSaneAfterExit(await t.waitFor("EXITED="), 0);
  });

  it("restores the terminal on SIGTERM", async () => {
    const t = await open(["--server", server.url]);
    await t.waitFor("cpu-01");
    process.kill(await t.dashPid(), "SIGTERM");
    expectSaneAfterExit(await t.waitFor("EXITED="), 143);
  });

  it("a bad config file is a clear error before the screen opens", async () => {
    const bad = await tempDir("dash-e2e-bad");
    try {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(`${bad}/config.json`, "{ nope");
      const t = await open(["--server", server.url], { BACKPLANE_CONFIG_DIR: bad });
      const screen = await t.waitFor("EXITED=2");
      expect(screen).toMatch(/backplane dash: .*config\.json: not valid JSON/);
    } finally {
      await removeDir(bad);
    }
  });
});
