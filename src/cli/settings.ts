import { CHECKS_KEY } from "../protocol/index.js";
import { parseDuration, UsageError } from "./args.js";
import { localTime } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";

function onOff(s: string): boolean {
  if (/^(on|true|yes|1)$/i.test(s)) return true;
  if (/^(off|false|no|0)$/i.test(s)) return false;
  throw new UsageError(`expected on or off, got '${s}'`);
}

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
    usage:
      "backplane settings set [--auto-upgrade on|off] [--check-interval 6h] [--json]\n\nExample:\n  backplane settings set --auto-upgrade on",
    flags: { "auto-upgrade": { type: "string" }, "check-interval": { type: "string" } },
    async run(p) {
      const auto = p.values["auto-upgrade"];
      const interval = p.values["check-interval"];
      if (typeof auto !== "string" && typeof interval !== "string") {
        throw new UsageError("nothing to set: give --auto-upgrade and/or --check-interval");
      }
      // Every flag is checked before connecting: a typo never waits for a server.
      const change = {
        ...(typeof auto === "string" ? { autoUpgrade: onOff(auto) } : {}),
        ...(typeof interval === "string"
          ? { upgradeCheckIntervalSec: Math.round(parseDuration(interval, "check-interval", 60_000)! / 1000) }
          : {}),
      };
      return withSession(p, async (client) => {
        const res = await client.call("settings.set", { ...change, actor: actor() });
        if (p.values.json) printJson(res);
        else
          process.stdout.write(
            `auto-upgrade ${res.settings.autoUpgrade ? "on" : "off"}, check every ${res.settings.upgradeCheckIntervalSec}s\n`,
          );
        return 0;
      });
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return runGroup("settings", "Read or change the cluster settings.", subcommands, argv);
}
