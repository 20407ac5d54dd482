import { Box, Text } from "ink";
import { useMemo, type ReactNode } from "react";
import { DataTable } from "../../components/DataTable.js";
import { TitleLine } from "../../components/TitleLine.js";
import type { Column, Row } from "../../format/table.js";
import { age, duration } from "../../format/units.js";
import { describeStrategy, strategyDefaults } from "../../protocol/index.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { useTable } from "../../hooks/useTable.js";
import type { ViewProps } from "../types.js";

const COLUMNS: Column[] = [
  { id: "setting", title: "SETTING", width: 16, unsortable: true },
  { id: "value", title: "VALUE", width: 10, unsortable: true },
  { id: "note", title: "", width: 20, flex: 1, unsortable: true },
];

/**
 * Cluster runtime settings (auto-upgrade, check interval; the rollout defaults and the window,
 * shown, set with `backplane settings set`); enter changes auto-upgrade or the interval.
 */
export function SettingsView({ width, height }: ViewProps): ReactNode {
  const settings = useDash((s) => s.settings);
  const upgrades = useDash((s) => s.upgrades);
  const checks = useDash((s) => s.checks);
  const live = useLive();
  const now = useNow(1000);
  const { runner } = useDashEnv();
  const { openPrompt, toast } = useActions();
  const readOnly = useDash((s) => s.readOnly);

  const rows: Row[] = useMemo(() => {
    if (!settings) return [];
    // The last round as the checker recorded it (it runs even when it finds nothing); before the
    // first such record, what the upgrade records say.
    let checkedAt = checks?.at ?? 0;
    let upgradable = checks?.upgradable ?? 0;
    if (!checks)
      for (const u of upgrades.values()) {
        checkedAt = Math.max(checkedAt, u.checkedAt);
        if (u.upgradable > 0) upgradable++;
      }
    return [
      {
        key: "autoUpgrade",
        cells: {
          setting: { text: "auto-upgrade" },
          value: {
            text: settings.autoUpgrade ? "✓ on" : "✗ off",
            tone: settings.autoUpgrade ? "warn" : undefined,
          },
          note: { text: "enter or a toggles (the leader starts a rollout per upgradable backend)" },
        },
      },
      {
        key: "interval",
        cells: {
          setting: { text: "check interval" },
          value: { text: duration(settings.upgradeCheckIntervalSec) },
          note: { text: "enter to change; U checks now" },
        },
      },
      {
        key: "strategy",
        cells: {
          setting: { text: "rollout strategy" },
          value: { text: settings.rolloutDefaults ? "custom" : "default" },
          note: { text: `${describeStrategy(strategyDefaults(settings))} (settings set --waves …)` },
        },
      },
      {
        key: "window",
        cells: {
          setting: { text: "maint. window" },
          value: { text: settings.window ? "✓ set" : "none" },
          note: {
            text: settings.window
              ? `${settings.window}: auto-upgrade rollouts admit only inside it`
              : "auto-upgrade rollouts admit at any time (settings set --window …)",
          },
        },
      },
      {
        key: "changed",
        cells: {
          setting: { text: "last changed" },
          value: { text: settings.updatedAt > 0 ? `${age(settings.updatedAt, now)} ago` : "never" },
          note: { text: settings.updatedAt > 0 ? `by ${settings.updatedBy}` : "(default)" },
        },
      },
      {
        key: "checked",
        cells: {
          setting: { text: "last check" },
          value: { text: checkedAt ? `${age(checkedAt, now)} ago` : "never" },
          note: { text: `${upgradable} backend(s) upgradable` },
        },
      },
    ];
  }, [settings, upgrades, checks, now]);
  const t = useTable("settings", "settings", rows, COLUMNS, height - 2);

  useViewCommands("settings", (cmd) => {
    if (cmd !== "nav.open" || !settings) return false;
    if (t.selectedRow?.key === "autoUpgrade")
      runner.request({ kind: "settings", autoUpgrade: !settings.autoUpgrade });
    else if (t.selectedRow?.key === "interval") {
      if (readOnly) toast("warn", "read-only mode: commands are disabled");
      else openPrompt({ kind: "interval", text: String(settings.upgradeCheckIntervalSec) });
    }
    return true;
  });

  return (
    <Box flexDirection="column" height={height}>
      <TitleLine crumbs={["Settings"]} width={width} />
      {settings ? (
        <DataTable
          columns={COLUMNS}
          rows={t.rows}
          selected={t.selected}
          width={width}
          height={height - 1}
          sort={null}
          stale={!live}
        />
      ) : (
        <Text dimColor>no settings record yet (the controller writes it on start)</Text>
      )}
    </Box>
  );
}
