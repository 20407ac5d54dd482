import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { InstallTarget } from "../../src/protocol/index.js";
import { RUN_SH, tarball } from "../agent/archives.js";
import { connectClient, noise, startAgent } from "../agent/helpers.js";
import { NatsServer } from "../harness/nats-server.js";
import { removeDir, tempDir } from "../harness/proc.js";
import { workContract, type Outcome } from "./work-contract.js";

/** An HTTP server that starts sending a tarball and never finishes: an install that runs until cancelled. */
async function stallingServer(): Promise<{ url: string; close(): Promise<void> }> {
  const open = new Set<ServerResponse>();
  const body = tarball([RUN_SH, { path: "data.bin", body: noise(512 * 1024) }]);
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-length": String(body.length), "accept-ranges": "bytes" });
    if (req.method === "HEAD") return void res.end();
    open.add(res);
    res.write(body.subarray(0, 4096));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/stalls.tar.gz`,
    close: () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

workContract("the real agent", async () => {
  const [server, stalling, files] = await Promise.all([
    NatsServer.start(),
    stallingServer(),
    tempDir("contract"),
  ]);
  const body = tarball([RUN_SH, { path: "data.bin", body: noise(32 * 1024) }]);
  const good = join(files, "good.tar.gz");
  await writeFile(good, body);
  const sha256 = createHash("sha256").update(body).digest("hex");
  const client = await connectClient(server.url);
  const agent = await startAgent(server.url, { nodeId: "contract-agent" });
  const uris: Record<Outcome, string> = {
    succeed: `file://${good}`,
    fail: `file://${join(files, "missing.tar.gz")}`,
    hang: stalling.url,
  };
  return {
    nodeId: "contract-agent",
    client,
    target: async (outcome: Outcome, backend: string): Promise<InstallTarget> => ({
      name: backend,
      uri: uris[outcome],
      mirrors: [],
      sha256: outcome === "succeed" ? sha256 : undefined,
    }),
    dispose: async () => {
      await agent.stop();
      await client.close();
      await stalling.close();
      await server.dispose();
      await removeDir(files);
      await removeDir(agent.dir);
    },
  };
});
