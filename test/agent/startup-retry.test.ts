import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../src/client/index.js";
import type { Logger } from "../../src/lib/log.js";
import { NatsCluster } from "../harness/nats-server.js";
import { waitFor } from "../harness/proc.js";
import { startAgent } from "./helpers.js";
import { captureLog } from "../harness/capture-log.js";

describe("JetStream not ready at start-up is waited for, never fatal", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.dispose();
  });

  it("an agent whose streams lose their leader right after it connects waits, says so, and starts once they are back", async () => {
    const setup = await ClusterClient.connect({ servers: cluster.urls, replicas: 3 });
    await setup.close();
    const [, b, c] = cluster.servers;
    const others = [b!.pid!, c!.pid!];
    const log = captureLog();
    let paused = false;
    // The moment the agent's client has connected (buckets and streams checked), quorum goes.
    const logger: Logger = {
      ...log.logger,
      info: (msg, fields) => {
        log.logger.info(msg, fields);
        if (msg === "connected to NATS" && !paused) {
          paused = true;
          for (const pid of others) process.kill(pid, "SIGSTOP");
        }
      },
    };
    const starting = startAgent(cluster.urls[0]!, {
      nodeId: "early",
      connection: { servers: [cluster.urls[0]!], replicas: 3, logger },
      log: log.logger,
    });
    let failed: unknown;
    starting.catch((e: unknown) => (failed = e));
    try {
      await waitFor(
        "the agent waiting for JetStream",
        () => {
          if (failed) throw failed instanceof Error ? failed : new Error(String(failed));
          return log.lines.some((l) => String(l.msg).startsWith("waiting for JetStream"));
        },
        30_000,
      );
    } finally {
      for (const pid of others) process.kill(pid, "SIGCONT");
    }
    const agent = await starting;
    try {
      expect(log.lines.some((l) => l.msg === "agent started")).toBe(true);
    } finally {
      await agent.stop();
    }
  }, 90_000);
});
