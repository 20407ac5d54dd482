import { Text } from "ink";
import type { ReactNode } from "react";
import { controllerLiveness } from "../format/liveness.js";
import { truncate } from "../format/text.js";
import { clock } from "../format/units.js";
import { useDash, useDashEnv } from "../hooks/context.js";
import { useNow } from "../hooks/useNow.js";
import { toneStyle, useTheme, type Tone } from "../theme/index.js";
import { connectionText } from "./Header.js";

const PROMPT_LABEL = { filter: "/", jump: ":", interval: "check interval (e.g. 6h, 90m, 3600): " } as const;
const TOAST_TONE: Record<string, Tone> = { info: "muted", ok: "ok", warn: "warn", err: "err" };
const TOAST_GLYPH: Record<string, string> = { info: "…", ok: "✓", warn: "!", err: "✗" };

/**
 * One line between the view and the footer: the open prompt, else the latest toast (a command's
 * result or error), else a warning that what is on screen is not live or that no controller is
 * answering.
 */
export function StatusLine({ width }: { width: number }): ReactNode {
  const prompt = useDash((s) => s.prompt);
  const toast = useDash((s) => s.toast);
  const conn = useDash((s) => s.conn);
  const servers = useDash((s) => s.context.servers);
  // Whether anything was ever received is all that needs a redraw; the time itself is read at
  // each (clock-driven) render, so a stream of batches does not redraw this line.
  const everLive = useDash((s) => s.lastEventAt !== null);
  const { store } = useDashEnv();
  const lastEventAt = everLive ? store.getState().lastEventAt : null;
  const problem = useDash((s) => s.feedProblem);
  const controller = useDash((s) => s.controller);
  const leaseTtlMs = useDash((s) => s.leaseTtlMs);
  const now = useNow(1000);
  const p = useTheme();

  if (prompt) {
    const label = PROMPT_LABEL[prompt.kind];
    return (
      <Text wrap="truncate">
        <Text bold>{label}</Text>
        {truncate(prompt.text, width - label.length - 2)}
        <Text inverse> </Text>
      </Text>
    );
  }
  if (toast) {
    const st = toneStyle(p, TOAST_TONE[toast.level]);
    return (
      <Text wrap="truncate" color={st.color} bold={st.bold}>
        {truncate(`${TOAST_GLYPH[toast.level]} ${toast.text}`, width)}
      </Text>
    );
  }
  if (conn.state !== "connected") {
    const c = connectionText(conn, lastEventAt !== null, now, servers.join(","));
    const stale = lastEventAt !== null ? `; not live: dimmed rows are as of ${clock(lastEventAt, now)}` : "";
    const st = toneStyle(p, lastEventAt !== null ? "warn" : c.tone);
    return (
      <Text wrap="truncate" color={st.color}>
        {truncate(`! ${c.detail}${stale}`, width)}
      </Text>
    );
  }
  const live = controllerLiveness(controller, leaseTtlMs, conn.since, now);
  if (live.detail) {
    const st = toneStyle(p, "warn");
    return (
      <Text wrap="truncate" color={st.color} bold={st.bold}>
        {truncate(`! ${live.detail}`, width)}
      </Text>
    );
  }
  if (problem) {
    return <Text wrap="truncate">{truncate(`! ${problem}`, width)}</Text>;
  }
  return <Text> </Text>;
}
