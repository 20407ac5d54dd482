import { actorName } from "../lib/actor.js";
import { setFlagsFromString } from "node:v8";
import { silentLogger } from "../lib/log.js";
import { ConfigError, loadConfig, pickContext } from "../config/index.js";
import { KeymapError } from "../keymap/keymap.js";
import { paletteFor, THEME_NAMES } from "../theme/palettes.js";
import {
  CONNECTION_HELP,
  connectionFlags,
  envBacked,
  list,
  noPositionals,
  parseDuration,
  parse,
  printedHelp,
  str,
  UsageError,
} from "./args.js";
import { buildKeymap } from "../views/registry.js";
import { applyContext, clientOptions, contextFrom } from "./connect.js";

export const FLAGS = {
  ...connectionFlags,
  ...envBacked({ "read-only": { type: "boolean" }, "no-color": { type: "boolean" } } as const),
  theme: { type: "string" },
  "keep-finished": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = `Usage: backplane dash [flags]      (also: backplane with no command)

The full-screen dashboard: nodes, backends, operations, history and settings of a cluster,
live over NATS. Press ? inside for every key.

Flags:
  --context NAME       use a context saved in the config file (servers, credentials, prefix)
  --server URL         a one-off server instead of the context's
  --read-only          disable every command key (upgrade, cancel, drain, ...) [BACKPLANE_READ_ONLY]
  --no-color           no colours (NO_COLOR is honoured too) [BACKPLANE_NO_COLOR]
  --theme NAME         ${THEME_NAMES.join(" | ")}
  --keep-finished DUR  how long Operations keeps an op that ended while it was open (default 10m;
                       leaving the view drops them; f there shows every op)

${CONNECTION_HELP}

Config: contexts, currentContext, theme and key overrides live in ~/.config/backplane/config.json
(or $BACKPLANE_CONFIG_DIR/config.json). See docs/keys.md for the key names.
`;

/**
 * V8 lets the old generation grow to 2–4× what is live before it collects, which for a dashboard
 * left open means holding 100 MB and more of garbage for one screen of text. Its live heap is small
 * (~35 MB for 500 nodes × 30 backends), so collect at 1.5× instead; the extra mark-compacts are
 * small and cost no measurable CPU (bench/dash-load). The flag is read at every collection, so
 * setting it now takes effect; an operator's own setting (NODE_OPTIONS, node flags) wins.
 */
function boundHeapGrowth(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((a) =>
    /heap[-_]growing[-_]percent/.test(a),
  );
  if (!given) setFlagsFromString("--heap-growing-percent=50");
}

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, FLAGS);
  if (printedHelp(p, HELP)) return 0;
  noPositionals(p);
  const theme = str(p.values.theme);
  if (theme !== undefined && !THEME_NAMES.includes(theme)) {
    throw new UsageError(`--theme must be one of ${THEME_NAMES.join(", ")}, got '${theme}'`);
  }

  const keepFinishedMs = parseDuration(p.values["keep-finished"], "keep-finished", 1000);

  let loaded;
  let ctx;
  let keymap;
  const opts = clientOptions(p, "backplane-dash", silentLogger, { interactive: true });
  try {
    loaded = loadConfig();
    // As in the CLI: --server alone is a one-off; --context with --server only swaps the servers.
    ctx = contextFrom(loaded.config, p, true, pickContext);
    const readOnly =
      p.values["read-only"] === true || (p.values["read-only"] === undefined && ctx?.readOnly === true);
    keymap = buildKeymap(loaded.config.keys, { readOnly });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof KeymapError) {
      process.stderr.write(`backplane dash: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  applyContext(p, opts, ctx);
  const contextName = ctx
    ? list(p.values.server).length > 0
      ? `${ctx.name} (--server)`
      : ctx.name
    : list(p.values.server).length > 0
      ? "one-off"
      : "default";

  const noColor =
    p.values["no-color"] === true ||
    (process.env.NO_COLOR ?? "") !== "" ||
    (theme ?? loaded.config.theme) === "mono";
  // chalk inside Ink ignores NO_COLOR but reads FORCE_COLOR when it is first imported: decide now.
  if (noColor) process.env.FORCE_COLOR = "0";
  // React's development build records a performance.measure per component render (an unbounded
  // timeline: ~600 MB after a minute under load) and is several times slower: use production
  // unless someone asked otherwise.
  process.env.NODE_ENV ??= "production";

  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    process.stderr.write(
      "backplane dash: needs an interactive terminal (stdin and stdout must be a TTY);\n" +
        "for scripts use `backplane nodes list --json`, `backplane ops list --json`, `backplane ops watch`\n",
    );
    return 2;
  }

  // Ink draws only the last frame, at exit, when it believes it runs in CI (is-in-ci reads these
  // when Ink is imported); this is an interactive terminal, so a shell that exports CI must not blank it.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  boundHeapGrowth();
  const { runDashboard } = await import("./dash-screen.js");
  return runDashboard({
    client: opts,
    context: { name: contextName, servers: opts.servers },
    keymap,
    palette: paletteFor(theme ?? loaded.config.theme, noColor),
    actor: actorName("dash"),
    keepFinishedMs,
  });
}
export const flags = FLAGS;
