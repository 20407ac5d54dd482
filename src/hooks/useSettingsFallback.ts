import { useEffect } from "react";
import { useDash, useDashEnv } from "./context.js";

/**
 * The controller writes the settings record only when someone changes a setting; until then the
 * bucket is empty and its defaults apply. Ask the controller for them once the bucket is synced.
 */
export function useSettingsFallback(): void {
  const { runner } = useDashEnv();
  const missing = useDash((s) => s.synced.settings && s.settings === null && s.conn.state === "connected");
  useEffect(() => {
    if (missing) void runner.loadSettings();
  }, [missing, runner]);
}
