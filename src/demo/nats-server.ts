import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  freePort,
  readPortsFile,
  removeDir,
  spawnLogged,
  stopProcess,
  tempDir,
  waitFor,
  type Spawned,
} from "./processes.js";

export interface NatsServerOptions {
  /** Reuse a store dir (to restart on the same data). */
  storeDir?: string;
  /** Fixed client port (a restart keeps the port it had); default: the server picks one. */
  port?: number;
  serverName?: string;
  cluster?: { name: string; port: number; routes: number[] };
  /** Extra config text appended verbatim (accounts, authorization). */
  extraConfig?: string;
  /** JetStream's file storage limit, in nats-server's syntax; default 1TB. */
  maxFileStore?: string;
  /**
   * The largest message the server takes, in nats-server's syntax; default 4MB (headroom for the
   * demo). "1MB" is nats-server's own default, what a stock deployment has.
   */
  maxPayload?: string;
  /** Run without JetStream (to test what clients say about such a server); default on. */
  noJetStream?: boolean;
}

/** A real nats-server with JetStream on a loopback port it picked itself. */
export class NatsServer {
  private proc?: Spawned;
  port = 0;

  private constructor(
    readonly dir: string,
    readonly storeDir: string,
    private readonly opts: NatsServerOptions,
  ) {}

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const dir = await tempDir("nats");
    const s = new NatsServer(dir, opts.storeDir ?? join(dir, "js"), opts);
    if (opts.port) s.port = opts.port;
    await s.launch();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.child.pid;
  }

  private async launch(): Promise<void> {
    const o = this.opts;
    const lines = [
      `listen: "127.0.0.1:${this.port || -1}"`,
      `ports_file_dir: "${this.dir}"`,
      `server_name: "${o.serverName ?? "s1"}"`,
      `max_payload: ${o.maxPayload ?? "4MB"}`,
    ];
    if (!o.noJetStream)
      lines.push(
        `jetstream { store_dir: "${this.storeDir}", max_memory_store: 256MB, max_file_store: ${o.maxFileStore ?? "1TB"} }`,
      );
    if (o.cluster) {
      const routes = o.cluster.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ");
      lines.push(
        `cluster { name: "${o.cluster.name}", listen: "127.0.0.1:${o.cluster.port}", routes: [${routes}] }`,
      );
    }
    if (o.extraConfig) lines.push(o.extraConfig);
    const conf = join(this.dir, "server.conf");
    await writeFile(conf, lines.join("\n") + "\n");
    const proc = spawnLogged("nats-server", ["-c", conf]);
    this.proc = proc;
    const pid = proc.child.pid;
    if (!pid) throw new Error("nats-server did not start: is it installed? (make deps)");
    const ports = await waitFor(
      "nats-server ports file",
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`nats-server exited:\n${proc.output()}`);
        return readPortsFile(this.dir, pid);
      },
      15_000,
    );
    const url = ports.nats[0];
    if (!url) throw new Error("nats-server reported no client port");
    this.port = Number(new URL(url).port);
    await waitFor("JetStream ready", () => /Server is ready/.test(proc.output()), 15_000);
  }

  /** Stop gracefully (SIGTERM) or crash (SIGKILL). The store dir is kept for a restart. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.proc) await stopProcess(this.proc, signal);
    this.proc = undefined;
  }

  /** Start again on the same port and store dir. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  output(): string {
    return this.proc?.output() ?? "";
  }

  async dispose(): Promise<void> {
    await this.stop();
    await removeDir(this.dir);
    if (this.opts.storeDir === undefined) await removeDir(this.storeDir);
  }
}

/** A JetStream cluster of `size` servers on loopback, fully meshed by explicit routes. */
export class NatsCluster {
  private constructor(readonly servers: NatsServer[]) {}

  static async start(size = 3): Promise<NatsCluster> {
    const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const servers = await Promise.all(
      clusterPorts.map((port, i) =>
        NatsServer.start({
          serverName: `n${i + 1}`,
          cluster: { name: "bp-test", port, routes: clusterPorts.filter((p) => p !== port) },
        }),
      ),
    );
    const c = new NatsCluster(servers);
    await waitFor(
      "JetStream cluster leader",
      () =>
        servers.some((s) =>
          /JetStream cluster new metadata leader|is the new metadata leader|Self is new JetStream cluster metadata leader/.test(
            s.output(),
          ),
        ),
      30_000,
    );
    return c;
  }

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}
