import { actorName } from "../lib/actor.js";
import { ClusterClient, validateServers } from "../client/index.js";
import { silentLogger } from "../lib/log.js";
import { connectionFlags, nearest, parse, parseDuration, UsageError, type Parsed } from "./args.js";
import { applyContext, clientOptions, contextFor } from "./connect.js";

export const commonFlags = {
  ...connectionFlags,
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  timeout: { type: "string" },
  "connect-timeout": { type: "string" },
} as const;

/**
 * Connect for a one-shot CLI command: give up after --connect-timeout (default 10 s) with the
 * reason the client saw, instead of retrying forever like the long-running roles do.
 */
async function openSession(p: Parsed, name = "backplane-cli"): Promise<ClusterClient> {
  const opts = clientOptions(p, name, silentLogger, { interactive: true });
  applyContext(p, opts, await contextFor(p, true));
  // Retrying cannot fix a malformed URL: a one-shot command says so at once (the dashboard keeps
  // showing it and retrying, since the operator may be fixing the config meanwhile).
  try {
    validateServers(opts.servers);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const timeoutMs = parseDuration(p.values["connect-timeout"], "connect-timeout", 100) ?? 10_000;
  const client = ClusterClient.open({
    ...opts,
    apiTimeoutMs: parseDuration(p.values.timeout, "timeout", 100) ?? 30_000,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.ready(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      }),
    ]);
    return client;
  } catch {
    const reason = client.status.reason ?? "no answer";
    await client.close();
    throw new Error(`cannot reach NATS at ${opts.servers.join(",")} within ${timeoutMs / 1000} s: ${reason}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Run `use` on an open session, and close it however `use` ends. */
export async function withSession<T>(p: Parsed, use: (client: ClusterClient) => Promise<T>): Promise<T> {
  const client = await openSession(p);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** Who is asking, recorded on ops and in the audit trail. */
/** The actor the audit trail records for a CLI command: `cli:<os user>@<host>`. */
export function actor(): string {
  return actorName("cli");
}

export interface Subcommand {
  usage: string;
  flags?: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;
  run(p: Parsed, args: string[]): Promise<number>;
}

/** Dispatch `backplane <group> <sub> ...` with per-subcommand flags and help. */
export async function runGroup(
  group: string,
  summary: string,
  subs: Record<string, Subcommand>,
  argv: string[],
): Promise<number> {
  const [sub, ...rest] = argv;
  const groupHelp = () =>
    `Usage: backplane ${group} <command> [flags]\n\n${summary}\n\nCommands:\n${Object.values(subs)
      .map((s) => `  ${s.usage.split("\n")[0]}`)
      .join("\n")}\n\nRun 'backplane ${group} <command> --help' for flags and examples.\n`;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(groupHelp());
    return sub ? 0 : 2;
  }
  const cmd = subs[sub];
  if (!cmd) {
    const near = nearest(sub, Object.keys(subs));
    throw new UsageError(
      `unknown command '${group} ${sub}'${near ? ` (did you mean '${group} ${near}'?)` : ""}`,
    );
  }
  const p = parse(rest, { ...commonFlags, ...cmd.flags });
  if (p.values.help) {
    const { CONNECTION_HELP } = await import("./args.js");
    process.stdout.write(
      `Usage: ${cmd.usage}\n\n${CONNECTION_HELP}\n  --json               machine-readable output\n  --timeout D          API call timeout (default 30s; a bare number is seconds)\n  --connect-timeout D  give up connecting after this long (default 10s)\n`,
    );
    return 0;
  }
  return cmd.run(p, p.positionals);
}
