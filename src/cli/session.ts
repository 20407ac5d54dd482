import { actorName } from "../lib/actor.js";
import { ClusterClient, validateServers } from "../client/index.js";
import { silentLogger } from "../lib/log.js";
import { access, constants } from "node:fs/promises";
import type { ConnectionStatus, ConnectOptions } from "../client/index.js";
import {
  connectionFlags,
  envBacked,
  humanMs,
  nearest,
  parse,
  parseDuration,
  UsageError,
  type Parsed,
} from "./args.js";
import { applyContext, clientOptions, contextFor } from "./connect.js";

export const commonFlags = {
  ...connectionFlags,
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  ...envBacked({ timeout: { type: "string" }, "connect-timeout": { type: "string" } } as const),
} as const;

/** A refused port is most likely a typo or a stopped server: say so after this long. */
const REFUSED_GRACE_MS = 1_500;

/** Files the connection will read, checked here so that a typo is a local error, not a wait. */
async function checkLocalFiles(opts: ConnectOptions): Promise<void> {
  const files: Array<[string, string | undefined]> = [
    ["--creds", opts.credsFile],
    ["--nkey", opts.nkeyFile],
    ["--tls-ca", opts.tls?.caFile],
    ["--tls-cert", opts.tls?.certFile],
    ["--tls-key", opts.tls?.keyFile],
  ];
  for (const [flag, file] of files) {
    if (!file) continue;
    try {
      await access(file, constants.R_OK);
    } catch (e) {
      const why = (e as { code?: string }).code === "ENOENT" ? "no such file" : "not readable";
      throw new Error(`cannot read the ${flag} file ${file}: ${why}`);
    }
  }
}

/** What the CLI says for a connection problem waiting cannot fix, or undefined to keep waiting. */
function fatalProblem(
  status: ConnectionStatus,
  servers: string,
  refusedFor: number | undefined,
): string | undefined {
  switch (status.problem) {
    case "credentials":
      return `the server at ${servers} refused the credentials`;
    case "no-jetstream":
      return `the NATS server at ${servers} runs without JetStream, which backplane needs (start it with -js)`;
    case "local":
      return status.reason;
    case "refused":
      return refusedFor !== undefined && refusedFor >= REFUSED_GRACE_MS
        ? `cannot connect to ${servers}: connection refused (is nats-server running there?)`
        : undefined;
    default:
      return undefined;
  }
}

/**
 * Connect for a one-shot CLI command: give up after --connect-timeout (default 20 s) with the
 * reason the client saw, instead of retrying forever like the long-running roles do. What waiting
 * cannot fix fails at once: refused credentials, a server without JetStream, an unreadable file,
 * and (after REFUSED_GRACE_MS, unless --connect-timeout is given) a refused port.
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
  const explicitTimeout = p.values["connect-timeout"] !== undefined;
  // 20 s: a command started while one server of a cluster is lost waits out the elections of the
  // stream leaders it held (up to about 9 s on nats-server 2.9) while it sets up JetStream.
  const timeoutMs = parseDuration(p.values["connect-timeout"], "connect-timeout", 100) ?? 20_000;
  const apiTimeoutMs = parseDuration(p.values.timeout, "timeout", 100) ?? 30_000;
  await checkLocalFiles(opts);
  const servers = opts.servers.join(",");
  const started = Date.now();
  // Writes carry a key, so a call cut off by a server loss is asked again without being applied twice.
  const client = ClusterClient.open({ ...opts, apiTimeoutMs, keyWrites: true });
  let timer: NodeJS.Timeout | undefined;
  let stopStatus = () => {};
  try {
    await Promise.race([
      client.ready(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
        const judge = (s: ConnectionStatus) => {
          const refusedFor = explicitTimeout ? undefined : Date.now() - started;
          const fatal = fatalProblem(s, servers, refusedFor);
          if (fatal) reject(new Error(fatal));
        };
        const unsubscribe = client.onStatus(judge);
        // A refused port gives no new status between retries: look again when the grace ends.
        const grace = explicitTimeout ? undefined : setTimeout(() => judge(client.status), REFUSED_GRACE_MS);
        stopStatus = () => {
          unsubscribe();
          clearTimeout(grace);
        };
      }),
    ]);
    return client;
  } catch (e) {
    await client.close();
    if ((e as Error).message !== "timeout") throw e;
    const reason = client.status.reason ?? "no answer";
    throw new Error(`cannot reach NATS at ${servers} within ${humanMs(timeoutMs)}: ${reason}`);
  } finally {
    clearTimeout(timer);
    stopStatus();
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
      `Usage: ${cmd.usage}\n\n${CONNECTION_HELP}\n  --json               machine-readable output\n  --timeout D          API call timeout [BACKPLANE_TIMEOUT] (default 30s; a bare number is seconds)\n  --connect-timeout D  give up connecting after this long [BACKPLANE_CONNECT_TIMEOUT] (default 20s)\n`,
    );
    return 0;
  }
  return cmd.run(p, p.positionals);
}
