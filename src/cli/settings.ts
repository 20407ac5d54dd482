import {
  CHECKS_KEY,
  describeStrategy,
  parseStrategy,
  parseWindow,
  strategyDefaults,
} from "../protocol/index.js";
import { parseDuration, str, UsageError } from "./args.js";
import { localTime } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";

function onOff(s: string, flag = "auto-upgrade"): boolean {
  if (/^(on|true|yes|1)$/i.test(s)) return true;
  if (/^(off|false|no|0)$/i.test(s)) return false;
  throw new UsageError(`--${flag}: expected on or off, got '${s}'`);
}

const FLAG_OF: Record<string, string> = {
  waves: "waves",
  maxParallel: "max-parallel",
  soak: "soak",
  maxFailures: "max-failures",
};

export const subcommands: Record<string, Subcommand> = {
  get: {
    usage: "backplane settings get [--json]",
    async run(p) {
      return withSession(p, async (client) => {
        const res = await client.call("settings.get", {});
        if (p.values.json) return (printJson(res), 0);
        const s = res.settings;
        const check = (await client.get("checks", CHECKS_KEY))?.value;
        printTable(
          ["SETTING", "VALUE"],
          [
            ["auto-upgrade", s.autoUpgrade ? "on" : "off"],
            ["check-interval", `${s.upgradeCheckIntervalSec}s`],
            ["rollout-strategy", describeStrategy(strategyDefaults(s))],
            ["window", s.window ?? "none (auto-upgrade rollouts admit at any time)"],
            ["updated", s.updatedAt > 0 ? `${localTime(s.updatedAt)} by ${s.updatedBy}` : "never (default)"],
            [
              "last-check",
              check
                ? `${localTime(check.at)}: ${check.upgradable} upgradable, ${check.headRequests} registry requests`
                : "never",
            ],
          ],
        );
        return 0;
      });
    },
  },
  set: {
    usage: [
      "backplane settings set [--auto-upgrade on|off] [--check-interval 6h] [--window W|none]",
      "                       [--waves 1,10%,50%,100%] [--max-parallel N|P%] [--soak D]",
      "                       [--max-failures N|P%|default] [--auto-promote on|off] [--auto-revert on|off] [--json]",
      "",
      "The strategy flags set the default rollout strategy: what `rollouts start` uses for every",
      "flag it is not given, and what auto-upgrade's rollouts use. --window limits when",
      "auto-upgrade's rollouts admit ops: days (optional), a time range that may cross midnight,",
      "and UTC (the default) or an IANA zone; '' or none removes it.",
      "",
      "Examples:",
      "  backplane settings set --auto-upgrade on",
      '  backplane settings set --window "Sat,Sun 02:00-05:00 UTC" --waves 1,25%,100% --soak 5m',
    ].join("\n"),
    flags: {
      "auto-upgrade": { type: "string" },
      "check-interval": { type: "string" },
      window: { type: "string" },
      waves: { type: "string" },
      "max-parallel": { type: "string" },
      soak: { type: "string" },
      "max-failures": { type: "string" },
      "auto-promote": { type: "string" },
      "auto-revert": { type: "string" },
    },
    async run(p) {
      const auto = str(p.values["auto-upgrade"]);
      const interval = str(p.values["check-interval"]);
      const window = str(p.values.window);
      const failures = str(p.values["max-failures"]);
      const promote = str(p.values["auto-promote"]);
      const revert = str(p.values["auto-revert"]);
      const strategy = {
        waves: str(p.values.waves),
        maxParallel: str(p.values["max-parallel"]),
        soak: str(p.values.soak),
        maxFailures: failures === undefined || /^default$/i.test(failures) ? undefined : failures,
        autoPromote: promote === undefined ? undefined : onOff(promote, "auto-promote"),
        autoRevert: revert === undefined ? undefined : onOff(revert, "auto-revert"),
      };
      const change = {
        ...(auto !== undefined ? { autoUpgrade: onOff(auto) } : {}),
        ...(interval !== undefined
          ? { upgradeCheckIntervalSec: Math.round(parseDuration(interval, "check-interval", 60_000)! / 1000) }
          : {}),
        ...Object.fromEntries(Object.entries(strategy).filter(([, v]) => v !== undefined)),
        ...(failures !== undefined && /^default$/i.test(failures) ? { maxFailures: null } : {}),
        ...(window !== undefined ? { window: /^\s*(none|off)?\s*$/i.test(window) ? null : window } : {}),
      };
      if (Object.keys(change).length === 0) {
        throw new UsageError(
          "nothing to set: give --auto-upgrade, --check-interval, --window or a strategy flag (--waves, ...)",
        );
      }
      // Every flag is checked before connecting: a typo never waits for a server.
      const checked = parseStrategy(strategy);
      if (!checked.ok) throw new UsageError(`--${FLAG_OF[checked.field] ?? checked.field} ${checked.error}`);
      if (typeof change.window === "string") {
        const w = parseWindow(change.window);
        if (!w.ok) throw new UsageError(`--window: ${w.error}`);
      }
      return withSession(p, async (client) => {
        const res = await client.call("settings.set", { ...change, actor: actor() });
        if (p.values.json) return (printJson(res), 0);
        const s = res.settings;
        process.stdout.write(
          `auto-upgrade ${s.autoUpgrade ? "on" : "off"}, check every ${s.upgradeCheckIntervalSec}s, ` +
            `window ${s.window ?? "none"}\nrollout defaults: ${describeStrategy(strategyDefaults(s))}\n`,
        );
        return 0;
      });
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return runGroup("settings", "Read or change the cluster settings.", subcommands, argv);
}
