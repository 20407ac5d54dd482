import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
} from "../lib/log.js";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A flag as parseArgs takes it; `env: true` lets its BACKPLANE_* variable stand in when it is not
 * given. Only settings opt in (connection, logging, timeouts, the roles' configuration), never what
 * a command does (`--force`, `--all`, `--node`, ...): a variable left in a shell must not change
 * what every later command acts on.
 */
export type FlagSpec = NonNullable<ParseArgsConfig["options"]>[string] & { env?: true };
type Options = Record<string, FlagSpec>;

/** `flags`, each with its BACKPLANE_* env fallback. */
export function envBacked<T extends Options>(flags: T): { [K in keyof T]: T[K] & { env: true } } {
  return Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, { ...v, env: true }])) as {
    [K in keyof T]: T[K] & { env: true };
  };
}

/** Flags every command that talks to a cluster accepts, each with a BACKPLANE_* env fallback. */
export const connectionFlags = envBacked({
  server: { type: "string", multiple: true },
  creds: { type: "string" },
  nkey: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  "inbox-prefix": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  prefix: { type: "string" },
  context: { type: "string" },
  replicas: { type: "string" },
} as const);

export const CONNECTION_HELP = `Connection (each also from the env var in brackets):
  --server URL[,URL]   NATS servers [BACKPLANE_SERVER], default nats://127.0.0.1:4222
  --creds FILE         NATS .creds file [BACKPLANE_CREDS]
  --nkey FILE          nkey seed file [BACKPLANE_NKEY]
  --user U --password P   [BACKPLANE_USER, BACKPLANE_PASSWORD]
  --token T            [BACKPLANE_TOKEN]
  --inbox-prefix P     reply subject prefix [BACKPLANE_INBOX_PREFIX], default _INBOX_<user>
                       with --user (what deploy/nats-server.conf grants), else _INBOX
  --tls-ca F --tls-cert F --tls-key F   [BACKPLANE_TLS_CA, BACKPLANE_TLS_CERT, BACKPLANE_TLS_KEY]
  --prefix P           subject/bucket prefix [BACKPLANE_PREFIX], default bp
  --context NAME       a context saved in the dashboard config [BACKPLANE_CONTEXT] (dash and CLI)
  --replicas N         JetStream replicas when creating buckets [BACKPLANE_REPLICAS], default 1`;

/** Flags of the long-running roles (agent, controller) that choose how they log. */
export const logFlags = envBacked({
  "log-level": { type: "string" },
  "log-format": { type: "string" },
} as const);

export const LOG_HELP = `Logging (each also from the env var in brackets):
  --log-level L        debug, info, warn or error [BACKPLANE_LOG_LEVEL], default info
  --log-format F       json (one JSON line per event: time, level, role, node or replica id,
                       msg and fields) or text (one readable line) [BACKPLANE_LOG_FORMAT],
                       default json`;

/** The logger that `--log-level` and `--log-format` ask for, with `base` on every line. */
export function loggerFrom(p: Parsed, base: Record<string, unknown>): Logger {
  const level = oneOf(p.values["log-level"], "log-level", LOG_LEVELS);
  const format = oneOf(p.values["log-format"], "log-format", LOG_FORMATS);
  return createLogger(base, {
    level: level as LogLevel | undefined,
    format: format as LogFormat | undefined,
  });
}

/** A flag whose value must be one of `allowed`; undefined stays undefined. */
export function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
  throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got ${String(v)}`);
}

/** `--foo-bar` -> `BACKPLANE_FOO_BAR`. */
export function envName(flag: string): string {
  return `BACKPLANE_${flag.toUpperCase().replace(/-/g, "_")}`;
}

export type Parsed = ReturnType<typeof parse>;

/** Print `help` if --help was given; the command then does nothing else and exits 0. */
export function printedHelp(p: Parsed, help: string): boolean {
  if (p.values.help !== true) return false;
  process.stdout.write(help);
  return true;
}

/** For commands that take only flags. */
export function noPositionals(p: Parsed): void {
  if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
}

/**
 * Parse argv against `options`; a flag marked `env: true` that is absent falls back to its
 * BACKPLANE_* env var. Unknown flags are usage errors that name the flag.
 */
export function parse(argv: string[], options: Options, env: NodeJS.ProcessEnv = process.env) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(describeParseError(e, Object.keys(options)));
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  for (const [name, spec] of Object.entries(options)) {
    if (values[name] !== undefined || spec.env !== true) continue;
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === "") continue;
    if (spec.type === "boolean") values[name] = /^(1|true|yes|on)$/i.test(fromEnv);
    else values[name] = spec.multiple ? [fromEnv] : fromEnv;
  }
  return { values, positionals: parsed.positionals };
}

/** parseArgs' complaint in our words, with the nearest known flag for a typo. */
function describeParseError(e: unknown, known: string[]): string {
  const err = e as { code?: string; message?: string };
  const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(err.message ?? "");
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    const flag = `${unknown[1]}${unknown[2]}`;
    const near = nearest(unknown[2]!, known);
    return `unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ""}`;
  }
  const missing = /^Option '(--[a-z-]+)[^']*' argument missing/.exec(err.message ?? "");
  if (missing) return `${missing[1]} needs a value`;
  return (err.message ?? String(e)).replace(/^TypeError \[[A-Z_]+\]: /, "");
}

/** The known name closest to `name` by edit distance, when it is close enough to be a typo. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  const prefix = known.find((k) => k.startsWith(name) || name.startsWith(k));
  if (bestDistance <= Math.max(1, Math.floor(name.length / 3))) return best;
  return prefix;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function list(v: unknown): string[] {
  const raw = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  return raw
    .flatMap((s: string) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
}

export function int(v: unknown, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
}

const DURATION_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration the way an operator writes it: 1d, 6h, 15m, 5s or 500ms (the largest exact unit). */
export function humanMs(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    const n = ms / DURATION_UNIT[unit]!;
    if (n >= 1 && Number.isInteger(n)) return `${n}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * `500ms`, `5s`, `15m`, `6h`, `1d`; a bare number is seconds, as in every command and the
 * dashboard. Undefined stays undefined.
 */
export function parseDuration(v: unknown, name: string, minMs = 10): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(String(v));
  if (!m) throw new UsageError(`--${name} must be a duration such as 500ms, 5s, 15m or 6h, got ${String(v)}`);
  const ms = Math.round(Number(m[1]) * DURATION_UNIT[m[2] ?? "s"]!);
  if (ms < minMs) throw new UsageError(`--${name} must be at least ${humanMs(minMs)}, got ${String(v)}`);
  return ms;
}

const BYTE_UNIT: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `1500`, `10k`, `10M`, `2G` (binary units, optional trailing B or iB). */
export function parseBytes(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(String(v));
  if (!m) throw new UsageError(`--${name} must be a byte count such as 500000, 10M or 2G, got ${String(v)}`);
  return Math.round(Number(m[1]) * BYTE_UNIT[m[2]!.toLowerCase()]!);
}
