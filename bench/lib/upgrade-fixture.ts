/**
 * What an upgrade check needs, shared by the benches that run one (fanout, heartbeats): a real
 * docker-registry behind a loopback proxy that counts HEAD requests, one pushed image per
 * backend, a gallery naming them, and a fleet of inventories installing them (every third node
 * runs an old build of backend-01, so a check has something to find).
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { mapLimit } from "../../src/controller/map-limit.js";
import { Registry } from "../../src/demo/registry.js";
import { buildImage, parseImageRef, pushImage } from "../../src/oci/index.js";
import type { Heartbeat, InstalledBackend } from "../../src/protocol/index.js";
import { backendName, nodeId, plainHeartbeat } from "./synthetic-cluster.js";

/** Counts HEADs on their way to the registry. */
async function countingProxy(
  target: string,
): Promise<{ host: string; heads: () => number; close: () => void }> {
  let heads = 0;
  const [hostname, port] = target.split(":");
  const server = createServer((req, res) => {
    if (req.method === "HEAD") heads++;
    const up = request(
      { hostname, port: Number(port), path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    heads: () => heads,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function pushBackend(registry: Registry, repo: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "bp-bench-"));
  await writeFile(join(dir, "run.sh"), `#!/bin/sh\necho ${text}\n`);
  await chmod(join(dir, "run.sh"), 0o755);
  const img = await buildImage([dir]);
  try {
    return await pushImage(registry.client(), parseImageRef(registry.ref(repo, "latest")), img);
  } finally {
    await img.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

export interface UpgradeFixture {
  /** The gallery (index.yaml) naming every backend's image through the counting proxy. */
  gallery: string;
  /** The proxy's host:port (plain HTTP, loopback). */
  registryHost: string;
  /** HEAD requests the proxy has seen so far. */
  heads(): number;
  /** Backend j's image reference, as the gallery and the inventories name it. */
  uri(j: number): string;
  /** The digest pushed for each backend. */
  current: string[];
  dispose(): Promise<void>;
}

/** Starts a registry and its counting proxy, pushes `backends` images and writes their gallery. */
export async function startUpgradeFixture(backends: number): Promise<UpgradeFixture> {
  const registry = await Registry.start();
  const proxy = await countingProxy(registry.host);
  const work = await mkdtemp(join(tmpdir(), "bp-bench-"));
  const dispose = async () => {
    proxy.close();
    await registry.dispose();
    await rm(work, { recursive: true, force: true });
  };
  try {
    const current: string[] = [];
    for (let j = 0; j < backends; j++)
      current.push(await pushBackend(registry, `bench/${backendName(j)}`, `v1-${j}`));
    const uri = (j: number) => `${proxy.host}/bench/${backendName(j)}:latest`;
    const gallery = join(work, "index.yaml");
    await writeFile(
      gallery,
      Array.from({ length: backends }, (_, j) => `- name: ${backendName(j)}\n  uri: ${uri(j)}\n`).join(""),
    );
    return { gallery, registryHost: proxy.host, heads: proxy.heads, uri, current, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** The heartbeat of simulated node i (the same every time but for `sentAt`). */
export function simHeartbeat(i: number, sentAt: number): Heartbeat {
  return plainHeartbeat(nodeId(i), sentAt);
}

/**
 * Writes `nodes` inventories of `backends` rows each (bounded: 10,000 inventories of ~9 KB at
 * once time out on a loaded machine), and publishes one heartbeat per node when asked.
 */
export async function registerFleet(
  client: ClusterClient,
  fx: UpgradeFixture,
  nodes: number,
  backends: number,
  opts: { heartbeat: boolean },
): Promise<void> {
  const now = Date.now();
  await mapLimit(
    Array.from({ length: nodes }, (_, i) => i),
    256,
    async (i) => {
      const rows: InstalledBackend[] = Array.from({ length: backends }, (_, j) => ({
        name: backendName(j),
        metadata: {
          name: backendName(j),
          uri: fx.uri(j),
          digest: j === 1 && i % 3 === 0 ? `sha256:${"0".repeat(64)}` : fx.current[j],
          installed_at: new Date(now).toISOString(),
        },
        isMeta: false,
        generation: "g1",
        previousGenerations: [],
      }));
      await client.put("inventory", nodeId(i), { v: 1, nodeId: nodeId(i), updatedAt: now, backends: rows });
      if (opts.heartbeat) client.publish(client.subjects.heartbeat(nodeId(i)), simHeartbeat(i, now));
    },
  );
}
