import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { RegistryClient, type Credentials } from "../oci/index.js";
import { removeDir, spawnLogged, stopProcess, tempDir, waitFor, type Spawned } from "./processes.js";

const run = promisify(execFile);

export interface RegistryOptions {
  /** Require HTTP basic auth with these credentials (htpasswd -B). */
  auth?: Credentials;
}

/** A real docker-registry (CNCF distribution) on a loopback port it picked itself. */
export class Registry {
  private constructor(
    private readonly proc: Spawned,
    readonly dir: string,
    readonly host: string,
    readonly auth?: Credentials,
  ) {}

  static async start(o: RegistryOptions = {}): Promise<Registry> {
    const dir = await tempDir("registry");
    const lines = [
      "version: 0.1",
      "log: { level: info, accesslog: { disabled: true } }",
      `storage: { filesystem: { rootdirectory: "${join(dir, "data")}" }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:0", secret: "bp-test-secret" }`,
    ];
    if (o.auth) {
      const { stdout } = await run("htpasswd", ["-Bbn", o.auth.username, o.auth.password]);
      await writeFile(join(dir, "htpasswd"), stdout);
      lines.push(`auth: { htpasswd: { realm: bp-test, path: "${join(dir, "htpasswd")}" } }`);
    }
    const conf = join(dir, "config.yml");
    await writeFile(conf, lines.join("\n") + "\n");
    const proc = spawnLogged("docker-registry", ["serve", conf]);
    const host = await waitFor(
      "docker-registry to listen",
      () => {
        if (proc.child.exitCode !== null) throw new Error(`docker-registry exited:\n${proc.output()}`);
        return /listening on (127\.0\.0\.1:\d+)/.exec(proc.output())?.[1];
      },
      15_000,
    );
    return new Registry(proc, dir, host, o.auth);
  }

  get pid(): number | undefined {
    return this.proc.child.pid;
  }

  /** A client that knows this registry's credentials. */
  client(): RegistryClient {
    return new RegistryClient({ credentials: (h) => (h === this.host ? this.auth : undefined) });
  }

  ref(repository: string, tag: string): string {
    return `${this.host}/${repository}:${tag}`;
  }

  async dispose(): Promise<void> {
    await stopProcess(this.proc);
    await removeDir(this.dir);
  }
}
