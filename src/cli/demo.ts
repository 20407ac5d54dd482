import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DemoCluster } from "../demo/cluster.js";
import { demoEnv } from "../demo/processes.js";
import { int, parse, printedHelp } from "./args.js";

const HELP = `Usage: backplane demo [--nodes N] [--no-dash] [--payload-mb N] [--rate-limit BYTES_PER_S]

Run a whole cluster on this machine, in a temp dir: nats-server, a docker-registry on loopback with
six synthetic backends, a controller and N agents (default 4: two nvidia-cuda-12, one amd, one
default), start a few installs, publish new builds about 30 s in (every llama-cpp build, so that
u on llama-cpp in Backends rolls out over all four nodes in waves, and a broken piper), and open the
dashboard. Quitting (q, Ctrl-C, SIGTERM, or closing the terminal) stops every process it started
and removes the temp dir, the gallery cache included.

  --nodes N          number of agents (default 4)
  --no-dash          run headless and print how to attach a dashboard; stop with Ctrl-C
  --payload-mb N     payload per backend build (default 4)
  --rate-limit B     per-agent download cap in bytes/s (default 1048576), so installs take seconds
  --upgrade-after S  seconds before the new builds are published (default 30)
`;

const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export const flags = {
  nodes: { type: "string" },
  "no-dash": { type: "boolean" },
  "payload-mb": { type: "string" },
  "rate-limit": { type: "string" },
  "upgrade-after": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, flags);
  if (printedHelp(p, HELP)) return 0;
  const headless = !!p.values["no-dash"];
  const say = (l: string) => process.stderr.write(`demo: ${l}\n`);
  let quiet = false;
  const cluster = new DemoCluster({
    nodes: int(p.values.nodes, "nodes", 1) ?? 4,
    payloadBytes: (int(p.values["payload-mb"], "payload-mb", 1) ?? 4) * 1024 * 1024,
    rateLimit: int(p.values["rate-limit"], "rate-limit", 1024) ?? 1024 * 1024,
    log: (l) => !quiet && say(l),
  });

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= cluster.stop());
  const onSignal = () => void stop().then(() => process.exit(130));
  // A closed terminal (SIGHUP) must stop everything too: nats-server itself takes SIGHUP as
  // "reload the config" and would outlive the demo. Writes to a terminal that is gone fail with
  // EIO; that must not crash the demo before it has cleaned up.
  process.stderr.on("error", () => {});
  process.stdout.on("error", () => {});
  for (const s of STOP_SIGNALS) process.once(s, onSignal);

  try {
    await cluster.start();
    await cluster.seedInstalls();
    const res = cluster.resources();
    say(`processes ${res.pids.join(",")}; dirs ${res.dirs.join(",")}`);
    const upgradeTimer = setTimeout(
      () =>
        void cluster.publishUpgrades().catch((e: unknown) => say(`publishing upgrades failed: ${String(e)}`)),
      (int(p.values["upgrade-after"], "upgrade-after", 0) ?? 30) * 1000,
    );
    if (headless) {
      process.stdout.write(
        `demo cluster is up (${cluster.nodeIds().length} nodes)\n` +
          `  attach:  backplane dash --server ${cluster.serverUrl}\n` +
          `  cli:     backplane nodes list --server ${cluster.serverUrl}\n` +
          `stop with Ctrl-C\n`,
      );
      await new Promise<void>((resolve) => {
        for (const s of STOP_SIGNALS) {
          process.removeListener(s, onSignal);
          process.once(s, () => resolve());
        }
      });
    } else {
      quiet = true;
      const bin = fileURLToPath(new URL("../../bin/backplane.js", import.meta.url));
      const dash = spawn(process.execPath, [bin, "dash", "--server", cluster.serverUrl], {
        stdio: "inherit",
        env: demoEnv(),
      });
      await new Promise<void>((resolve) => dash.once("exit", () => resolve()));
      quiet = false;
    }
    clearTimeout(upgradeTimer);
    return 0;
  } finally {
    say("stopping");
    await stop();
    say(`stopped every process and removed ${cluster.workDir}`);
  }
}
