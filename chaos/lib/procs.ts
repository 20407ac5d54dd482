/** The real processes a scenario runs (agents and controllers of the built binary), and kills. */
import { join } from "node:path";
import { ClusterClient } from "../../src/client/index.js";
import { spawnBackplane } from "../../test/harness/backplane.js";
import { stopProcess, waitFor, type Spawned } from "../../test/harness/proc.js";

export type { Spawned };
export { waitFor };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `p` logged `re` (a JSON log line's msg), failing early if it exits. */
export async function waitLogged(p: Spawned, what: string, re: RegExp, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    what,
    () => {
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        throw new Error(`exited:\n${p.output().slice(-3000)}`);
      return re.test(p.output());
    },
    timeoutMs,
  );
}

export interface AgentSpec {
  nodeId: string;
  servers: string[];
  backendsDir: string;
  extra?: string[];
}

export interface ControllerSpec {
  id: string;
  servers: string[];
  gallery: string;
  extra?: string[];
}

/** Every process a scenario started, so that its end (or a failure) stops them all. */
export class Procs {
  private readonly live = new Set<Spawned>();

  spawn(args: string[]): Spawned {
    const p = spawnBackplane(args, { BACKPLANE_LOG_LEVEL: "info" });
    this.live.add(p);
    void p.exited.then(() => this.live.delete(p));
    return p;
  }

  async agent(s: AgentSpec): Promise<Spawned> {
    const p = this.spawn([
      "agent",
      "--node-id",
      s.nodeId,
      "--backends-dir",
      s.backendsDir,
      "--server",
      s.servers.join(","),
      "--no-fsync",
      "--heartbeat-interval",
      "1s",
      "--capability",
      "default",
      "--probe",
      "none",
      ...(s.extra ?? []),
    ]);
    await waitLogged(p, `agent ${s.nodeId} started`, /"agent started"/, 60_000);
    return p;
  }

  async controller(s: ControllerSpec): Promise<Spawned> {
    const p = this.spawn([
      "controller",
      "--id",
      s.id,
      "--server",
      s.servers.join(","),
      "--gallery",
      s.gallery,
      "--heartbeat-interval",
      "1s",
      ...(s.extra ?? []),
    ]);
    await waitLogged(p, `controller ${s.id} ready`, /"controller ready"/, 60_000);
    return p;
  }

  async kill9(p: Spawned): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill("SIGKILL");
    await p.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((p) => stopProcess(p, "SIGKILL")));
  }
}

/** An in-process client, as the dashboard and the CLI connect. */
export function connectClient(servers: string[], name = "chaos", replicas?: number): Promise<ClusterClient> {
  return ClusterClient.connect({ servers, name, replicas });
}

/** The node's backends dir under a scenario's temp dir. */
export const nodeDir = (dir: string, nodeId: string): string => join(dir, nodeId);

/** Run `fn` with a scenario-wide time bound: the scenario fails with `what` instead of hanging. */
export async function bounded<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: over its bound of ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(t);
  }
}

export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

export const ms = (n: number): string => `${Math.round(n)} ms`;
export const secs = (n: number): string => `${(n / 1000).toFixed(1)} s`;
/** "1.4–2.3 s" of a list of durations (ms). */
export function range(xs: number[]): string {
  if (xs.length === 0) return "–";
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? secs(lo) : `${(lo / 1000).toFixed(1)}–${secs(hi)}`;
}
