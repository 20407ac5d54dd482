import { UsageError } from "./args.js";
import { printJson, printTable } from "./output.js";
import { actor, openSession, runGroup, type Subcommand } from "./session.js";

/** `6h`, `30m`, `90s` or plain seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(s.trim());
  if (!m) throw new UsageError(`bad duration '${s}': use e.g. 90s, 30m, 6h`);
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * mult;
}

function onOff(s: string): boolean {
  if (/^(on|true|yes|1)$/i.test(s)) return true;
  if (/^(off|false|no|0)$/i.test(s)) return false;
  throw new UsageError(`expected on or off, got '${s}'`);
}

const subs: Record<string, Subcommand> = {
  get: {
    usage: "backplane settings get [--json]",
    async run(p) {
      const client = await openSession(p);
      try {
        const res = await client.call("settings.get", {});
        if (p.values.json) return (printJson(res), 0);
        const s = res.settings;
        printTable(
          ["SETTING", "VALUE"],
          [
            ["auto-upgrade", s.autoUpgrade ? "on" : "off"],
            ["check-interval", `${s.upgradeCheckIntervalSec}s`],
            ["updated", `${new Date(s.updatedAt).toISOString()} by ${s.updatedBy}`],
          ],
        );
        return 0;
      } finally {
        await client.close();
      }
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
      const client = await openSession(p);
      try {
        const res = await client.call("settings.set", {
          ...(typeof auto === "string" ? { autoUpgrade: onOff(auto) } : {}),
          ...(typeof interval === "string" ? { upgradeCheckIntervalSec: parseDuration(interval) } : {}),
          actor: actor(),
        });
        if (p.values.json) printJson(res);
        else
          process.stdout.write(
            `auto-upgrade ${res.settings.autoUpgrade ? "on" : "off"}, check every ${res.settings.upgradeCheckIntervalSec}s\n`,
          );
        return 0;
      } finally {
        await client.close();
      }
    },
  },
};

export function run(argv: string[]): Promise<number> {
  return runGroup("settings", "Read or change the cluster settings.", subs, argv);
}
