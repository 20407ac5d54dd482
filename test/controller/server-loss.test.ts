import { afterEach, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import { Controller } from "../../src/controller/controller.js";
import { ADMIT_WAIT_MS } from "../../src/controller/operations.js";
import { errorMessage } from "../../src/lib/log.js";
import { DEFAULT_API_TIMEOUT_MS } from "../../src/protocol/index.js";
import { NatsCluster, type NatsServer } from "../harness/nats-server.js";
import { removeDir, tempDir, waitFor } from "../harness/proc.js";
import { runBackplane } from "../harness/backplane.js";
import { testLogger, testTelemetry, writeGallery } from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const GALLERY = Array.from(
  { length: 1000 },
  (_, i) => `- name: b${i}\n  uri: 127.0.0.1:5999/b${i}:latest\n`,
).join("");
const PREFIX = "loss";
const NODES = ["node-0", "node-1", "node-2"];
/**
 * A read is answered within the default timeout once the controller has reconnected. Admission
 * also waits, by design, for up to ADMIT_WAIT_MS for a stream that lost its leader to elect one
 * before it answers: an install's answer may come that much later, on a busy machine too.
 */
const INSTALL_TIMEOUT_MS = DEFAULT_API_TIMEOUT_MS + ADMIT_WAIT_MS;

const undo: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => {});
});

/** Calls made while the server dies, and how each ended. */
interface Outcome {
  what: string;
  error?: string;
}

describe("losing one NATS server of three (replicas 3)", () => {
  it("fails no API call and no CLI command while the server the controller is connected to is killed", async () => {
    const cluster = await NatsCluster.start(3);
    undo.push(() => cluster.dispose());
    const dir = await tempDir("server-loss");
    undo.push(() => removeDir(dir));
    const galleryPath = await writeGallery(dir, GALLERY);
    const open = (name: string) =>
      ClusterClient.connect({
        servers: cluster.urls,
        prefix: PREFIX,
        replicas: 3,
        name,
        logger: testLogger(),
      });

    const ctlClient = await open("controller");
    undo.push(() => ctlClient.close());
    const ctl = await Controller.start({
      client: ctlClient,
      galleries: [{ name: "test", url: galleryPath }],
      replicas: 3,
      telemetry: testTelemetry(),
      timings: { health: { heartbeatIntervalMs: 1_000 } },
    });
    undo.push(() => ctl.stop());
    const nodesClient = await open("nodes");
    undo.push(() => nodesClient.close());
    const nodes = await Promise.all(
      NODES.map((nodeId) => new FakeNode(nodesClient, { nodeId, heartbeatMs: 1_000 }).start()),
    );
    undo.push(async () => nodes.forEach((n) => n.stopHeartbeats()));
    const api = await open("api");
    undo.push(() => api.close());
    await waitFor(
      "every node known",
      async () => (await api.call("nodes.list", {})).nodes.length === 3,
      20_000,
    );

    // The victim: the server the controller is connected to, so its replies in flight are lost
    // and it reconnects; whatever streams that server led elect new leaders.
    const victim: NatsServer = cluster.servers.find((s) => ctlClient.nc.getServer().endsWith(`:${s.port}`))!;
    const server = cluster.urls.join(",");
    const cli = (...args: string[]) =>
      runBackplane([...args, "--server", server, "--prefix", PREFIX], {}, 40_000);

    const outcomes: Outcome[] = [];
    const pending: Array<Promise<void>> = [];
    const track = (what: string, p: Promise<unknown>) => {
      const o: Outcome = { what };
      outcomes.push(o);
      pending.push(
        p.then(
          () => {},
          (e: unknown) => {
            o.error = errorMessage(e);
          },
        ),
      );
    };
    let stop = false;
    let k = 0;
    const ticker = setInterval(() => {
      if (stop) return;
      const n = k++;
      if (n % 3 === 0) track("nodes.list", api.call("nodes.list", {}));
      else if (n % 3 === 1) track("ops.list", api.call("ops.list", {}));
      else
        track(
          "ops.install",
          api
            .call("ops.install", { backend: `b${n % 1000}`, nodes: [NODES[n % 3]!] }, INSTALL_TIMEOUT_MS, {
              idempotencyKey: `loss-${n}-${process.pid}`,
            })
            .then((r) => {
              if (r.refused.length > 0) throw new Error(`refused: ${r.refused[0]!.error}`);
            }),
        );
    }, 150);
    undo.push(async () => clearInterval(ticker));

    // The CLI, one command after another, from before the kill until well after it.
    const commands = (i: number): string[] =>
      [
        ["nodes", "list", "--json"],
        ["ops", "list", "--json"],
        ["backends", "install", `b${199 - i}`, "--node", "node-0", "--json"],
      ][i % 3]!;
    const cliRuns: Array<{ args: string; code: number | null; stderr: string }> = [];
    const cliLoop = (async () => {
      for (let i = 0; !stop; i++) {
        const args = commands(i);
        const r = await cli(...args);
        cliRuns.push({ args: args.join(" "), code: r.code, stderr: r.stderr.slice(-400) });
      }
    })();

    await waitFor("calls before the kill", () => outcomes.length >= 10 && cliRuns.length >= 1, 20_000);
    await victim.stop("SIGKILL");
    const killedAt = outcomes.length;
    const cliAtKill = cliRuns.length;
    // Long enough for every stream the victim led to elect a new leader (4–9 s on 2.9) and the
    // controller's watches to recover; counted in calls made and CLI commands finished.
    await waitFor("calls after the kill", () => outcomes.length >= killedAt + 80, 30_000);
    await waitFor("CLI commands after the kill", () => cliRuns.length >= cliAtKill + 6, 60_000);
    stop = true;
    clearInterval(ticker);
    await Promise.all(pending);
    await cliLoop;

    const failed = outcomes.filter((o) => o.error).map((o) => `${o.what}: ${o.error}`);
    expect(failed, `${failed.length} of ${outcomes.length} calls failed`).toEqual([]);
    const cliFailed = cliRuns.filter((r) => r.code !== 0);
    expect(cliFailed, "CLI commands that failed").toEqual([]);
    // The lists kept answering what is there: every node, and the ops admitted meanwhile.
    expect((await api.call("nodes.list", {})).nodes.map((n) => n.id)).toEqual(NODES);
    expect((await api.call("ops.list", { all: true })).ops.length).toBeGreaterThan(killedAt / 3);
  }, 90_000);
});
