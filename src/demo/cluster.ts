import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClusterClient, listAllNodes } from "../client/index.js";
import { silentLogger, type Logger } from "../lib/log.js";
import { buildImage, parseImageRef, pushImage } from "../oci/index.js";
import {
  DEMO_BROKEN,
  DEMO_UPGRADED,
  galleryYaml,
  initialBuilds,
  writeBackendDir,
  type DemoBuild,
} from "./catalog.js";
import { NatsServer } from "./nats-server.js";
import { demoEnv, removeDir, spawnLogged, stopProcess, tempDir, waitFor, type Spawned } from "./processes.js";
import { Registry } from "./registry.js";

const BIN = fileURLToPath(new URL("../../bin/backplane.js", import.meta.url));
const CAPABILITIES = ["nvidia-cuda-12", "nvidia-cuda-12", "amd", "default"];

export interface DemoOptions {
  nodes: number;
  /** Bytes of payload per backend build. */
  payloadBytes: number;
  /** Per-agent download cap so installs take a few seconds. */
  rateLimit: number;
  log: (line: string) => void;
  /** The agents' node ids by 1-based index; default node-1, node-2, ... */
  nodeId?: (index: number) => string;
  /** The agents' `--label` values by 1-based index (KEY=VALUE each); default none. */
  labels?: (index: number) => string[];
  /** More agent flags by 1-based index, after the demo's own (a repeated flag overrides). */
  agentArgs?: (index: number) => string[];
}

/** A logger that passes warnings and errors on as lines and drops the rest. */
function warningsTo(log: (line: string) => void): Logger {
  const line = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    log(`demo client ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`);
  const logger: Logger = {
    ...silentLogger,
    warn: line("warn"),
    error: line("error"),
    child: () => logger,
  };
  return logger;
}

/** A whole local cluster: nats-server, registry, a controller and N agents, all children of this process. */
export class DemoCluster {
  private nats?: NatsServer;
  private registry?: Registry;
  private readonly children: Array<{ name: string; proc: Spawned }> = [];
  private dir = "";
  private builds: DemoBuild[] = initialBuilds();
  client?: ClusterClient;

  constructor(private readonly o: DemoOptions) {}

  get serverUrl(): string {
    return this.nats?.url ?? "";
  }

  get workDir(): string {
    return this.dir;
  }

  /** Every process and directory the demo created, so a caller can check that stop() removed them. */
  resources(): { pids: number[]; dirs: string[] } {
    const pids = [this.nats?.pid, this.registry?.pid, ...this.children.map((c) => c.proc.child.pid)];
    const dirs = [this.dir, this.nats?.dir, this.registry?.dir];
    return {
      pids: pids.filter((p): p is number => typeof p === "number"),
      dirs: dirs.filter((d): d is string => !!d),
    };
  }

  /** host:port of the demo's registry (loopback, plain HTTP). */
  get registryHost(): string {
    return this.registry?.host ?? "";
  }

  nodeIds(): string[] {
    const id = this.o.nodeId ?? ((i: number) => `node-${i}`);
    return Array.from({ length: this.o.nodes }, (_, i) => id(i + 1));
  }

  async start(): Promise<void> {
    this.dir = await tempDir("demo");
    const { log } = this.o;
    log(`work dir ${this.dir}`);
    [this.nats, this.registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    log(`nats-server ${this.nats.url}, registry ${this.registry.host}`);
    await this.publish(this.builds);
    const gallery = join(this.dir, "index.yaml");
    await writeFile(gallery, galleryYaml(this.registry.host, this.builds));
    log(`published ${this.builds.length} backend builds; gallery ${gallery}`);

    this.spawn("controller", [
      "controller",
      "--server",
      this.nats.url,
      "--gallery",
      gallery,
      "--gallery-cache",
      join(this.dir, "gallery-cache"),
    ]);
    for (const [i, id] of this.nodeIds().entries()) {
      this.spawn(id, [
        "agent",
        "--node-id",
        id,
        "--backends-dir",
        join(this.dir, "nodes", id),
        "--server",
        this.nats.url,
        "--capability",
        CAPABILITIES[i % CAPABILITIES.length]!,
        "--rate-limit",
        String(this.o.rateLimit),
        // The broken build fails its probe after this long instead of the default minute.
        "--probe-timeout",
        "10s",
        ...(this.o.labels?.(i + 1) ?? []).flatMap((l) => ["--label", l]),
        ...(this.o.agentArgs?.(i + 1) ?? []),
      ]);
    }
    log(`spawned the controller and ${this.o.nodes} agents`);
    this.client = await ClusterClient.connect({
      servers: [this.nats.url],
      name: "demo",
      // It retries until it can set up the buckets: say why, or a stalled start looks silent.
      logger: warningsTo(log),
    });
    log("connected");
    const client = this.client;
    await waitFor(
      `${this.o.nodes} healthy nodes`,
      async () => {
        this.assertChildrenAlive();
        const res = await listAllNodes(client, 2_000).catch(() => null);
        return res && res.nodes.filter((n) => n.status === "healthy").length >= this.o.nodes;
      },
      30_000,
      250,
    );
    log(`${this.o.nodes} nodes healthy`);
  }

  /** Kick off a few installs so the dashboard opens on live progress bars. */
  async seedInstalls(): Promise<void> {
    const client = this.need();
    const ids = this.nodeIds();
    await client.call("ops.install", { backend: "llama-cpp", nodes: ids, actor: "demo" });
    await client.call("ops.install", {
      backend: "whisper",
      nodes: ids.slice(0, Math.max(1, ids.length - 2)),
      actor: "demo",
    });
    await client.call("ops.install", { backend: "piper", nodes: ids.slice(-1), actor: "demo" });
  }

  /**
   * Publish 1.1.0 builds of `names` (by default the demo's: every llama-cpp build and piper): the
   * tag moves, the gallery version goes up; then check for upgrades.
   */
  async publishUpgrades(names: readonly string[] = DEMO_UPGRADED): Promise<void> {
    const next = this.builds.map((b) =>
      names.includes(b.name) ? { ...b, version: "1.1.0", neverAnswers: b.name === DEMO_BROKEN } : b,
    );
    await this.publish(next.filter((b) => names.includes(b.name)));
    this.builds = next;
    await writeFile(join(this.dir, "index.yaml"), galleryYaml(this.registry!.host, this.builds));
    await this.need().call("upgrades.check", { actor: "demo" }, 60_000);
    this.o.log(
      `published new builds of ${names.join(", ")}` +
        (names.includes(DEMO_BROKEN)
          ? `; ${DEMO_BROKEN} 1.1.0 is broken (its server never answers the health probe): upgrading ` +
            `it fails and the node keeps running 1.0.0`
          : ""),
    );
  }

  private async publish(builds: DemoBuild[]): Promise<void> {
    const registry = this.registry!;
    const client = registry.client();
    const src = join(this.dir, "src");
    for (const b of builds) {
      const dir = await writeBackendDir(src, b, this.o.payloadBytes);
      const img = await buildImage([dir], { annotations: { "org.opencontainers.image.version": b.version } });
      try {
        await pushImage(client, parseImageRef(`${registry.host}/local-ai-backends:${b.tag}`), img);
      } finally {
        await img.dispose();
        await removeDir(dir);
      }
    }
  }

  private spawn(name: string, args: string[]): void {
    this.children.push({ name, proc: spawnLogged(process.execPath, [BIN, ...args], { env: demoEnv() }) });
  }

  /** The tail of each child's output, for a test to show when the cluster did not come up. */
  childLogs(tailChars = 4000): string {
    return this.children
      .map(
        ({ name, proc }) =>
          `--- ${name} (exit ${proc.child.exitCode ?? "none"}) ---\n${proc.output().slice(-tailChars)}`,
      )
      .join("\n");
  }

  private assertChildrenAlive(): void {
    for (const { name, proc } of this.children) {
      if (proc.child.exitCode !== null) {
        throw new Error(`${name} exited with ${proc.child.exitCode}:\n${proc.output().slice(-2000)}`);
      }
    }
  }

  private need(): ClusterClient {
    if (!this.client) throw new Error("demo cluster not started");
    return this.client;
  }

  /** Stop every process it started and remove the temp dir. Safe to call twice. */
  async stop(): Promise<void> {
    await this.client?.close().catch(() => {});
    this.client = undefined;
    await Promise.all(this.children.splice(0).map((c) => stopProcess(c.proc)));
    await Promise.all([this.registry?.dispose(), this.nats?.dispose()]);
    this.registry = undefined;
    this.nats = undefined;
    if (this.dir) await removeDir(this.dir);
  }
}
