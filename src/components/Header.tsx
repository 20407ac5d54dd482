import { Box, Text } from "ink";
import type { ReactNode } from "react";
import { controllerLiveness } from "../format/liveness.js";
import { nodeCounts } from "../format/nodes.js";
import { displayWidth, truncate } from "../format/text.js";
import { age } from "../format/units.js";
import { useDash, useDashEnv } from "../hooks/context.js";
import { useNow } from "../hooks/useNow.js";
import { isActive, needsAttention, rolloutEnded } from "../protocol/index.js";
import { nodeStatusLook, toneStyle, UPGRADE_BADGE, useTheme, type Tone } from "../theme/index.js";
import { STALE_NODE_LOOK } from "../theme/symbols.js";
import type { ConnectionStatus } from "../store/index.js";

/**
 * The connection as an operator reads it: a short state for the header, and the detail (what we
 * try, for how long, why it fails) for the status line, which has the whole width.
 */
export function connectionText(
  c: ConnectionStatus,
  everLive: boolean,
  now: number,
  fallbackServer = "",
): { text: string; detail: string; tone: Tone } {
  const server = c.server ?? fallbackServer;
  const why = c.reason ?? "no reason given";
  const since = age(c.since, now);
  switch (c.state) {
    case "connected":
      return { text: `● connected ${since}`, detail: "", tone: "ok" };
    case "connecting":
      return { text: "◌ connecting…", detail: `connecting to ${server}…`, tone: "warn" };
    case "reconnecting":
      return { text: `◌ reconnecting ${since}`, detail: `${why} — ${server}, reconnecting`, tone: "warn" };
    case "disconnected":
      return {
        text: everLive ? `✗ lost for ${since}` : `✗ cannot connect (attempt ${c.attempts})`,
        detail: `${why} — ${server}, retrying`,
        tone: "err",
      };
    case "closed":
      return { text: "✗ closed", detail: `connection closed — ${server}`, tone: "err" };
  }
}

function Seg({ text, tone }: { text: string; tone?: Tone }) {
  const p = useTheme();
  const st = toneStyle(p, tone);
  return (
    <Text color={st.color} bold={st.bold} dimColor={st.dimColor}>
      {text}
    </Text>
  );
}

/** Two lines: where we are connected and how; then what the cluster looks like right now. */
export function Header({ width }: { width: number }): ReactNode {
  const now = useNow(1000);
  const ctx = useDash((s) => s.context);
  const conn = useDash((s) => s.conn);
  // Read, not subscribed: it changes with every batch, and the 1 s clock redraws this line anyway.
  const { store } = useDashEnv();
  const lastEventAt = store.getState().lastEventAt;
  const nodes = useDash((s) => s.nodes);
  const ops = useDash((s) => s.ops);
  const upgrades = useDash((s) => s.upgrades);
  const rollouts = useDash((s) => s.rollouts);
  const settings = useDash((s) => s.settings);
  const readOnly = useDash((s) => s.readOnly);
  const controller = useDash((s) => s.controller);
  const leaseTtlMs = useDash((s) => s.leaseTtlMs);
  const p = useTheme();

  const server = conn.server ?? ctx.servers.join(",");
  const c = connectionText(conn, lastEventAt !== null, now, server);
  // Heartbeats read, not subscribed (as lastEventAt): the 1 s clock redraws this line anyway.
  const counts = nodeCounts(nodes, store.getState().heartbeats, now);
  let running = 0;
  let failed = 0;
  for (const o of ops.values()) {
    if (isActive(o)) running++;
    else if (needsAttention(o)) failed++;
  }
  const activeRollouts = [...rollouts.values()].filter((r) => !rolloutEnded(r.state)).length;
  const upgradable = [...upgrades.values()].filter((u) => u.upgradable > 0).length;
  const statusParts = (["healthy", "unhealthy", "offline", "draining", "pending"] as const)
    .filter((s) => counts.byStatus[s] > 0)
    .map((s) => `${nodeStatusLook[s].glyph}${counts.byStatus[s]}`)
    .concat(counts.stale > 0 ? [`${STALE_NODE_LOOK.glyph}${counts.stale} ${STALE_NODE_LOOK.word}`] : [])
    .join(" ");
  const auto = settings === null ? "auto-upgrade ?" : `auto-upgrade ${settings.autoUpgrade ? "ON" : "off"}`;
  const last = lastEventAt === null ? "no events yet" : `last event ${age(lastEventAt, now)}`;
  const live = controllerLiveness(
    controller,
    leaseTtlMs,
    conn.state === "connected" ? conn.since : null,
    now,
  );
  // The controller's liveness must stay readable: the server address gives way first, then the
  // context's name (at 60 columns).
  const tail = ` ${c.text} │ ${live.text}${readOnly ? " [read-only]" : ""}`;
  const showCtx = displayWidth(`backplane ctx ${truncate(ctx.name, 20)}${tail}`) <= width;
  const name = showCtx ? truncate(ctx.name, 20) : "";
  const used = displayWidth(`backplane${showCtx ? ` ctx ${name}` : ""}${tail}`);
  const room = width - used - 1;
  // A server cut to a few characters says nothing; leave it out.
  const serverText = room >= 12 ? truncate(server, Math.min(32, room)) : "";

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold color={p.title.color}>
          backplane
        </Text>
        {showCtx ? <Text> ctx </Text> : null}
        {showCtx ? <Text bold>{name}</Text> : null}
        <Text> {serverText ? `${serverText} ` : ""}</Text>
        <Seg text={c.text} tone={c.tone} />
        <Text> │ </Text>
        <Seg text={live.text} tone={live.tone} />
        {readOnly ? <Seg text=" [read-only]" tone="warn" /> : null}
      </Text>
      <Text wrap="truncate">
        <Text>nodes {counts.total}</Text>
        {statusParts ? <Text> {statusParts}</Text> : null}
        <Text> │ ops ▶{running}</Text>
        {failed > 0 ? <Seg text={` ✗${failed}`} tone="err" /> : null}
        {activeRollouts > 0 ? <Text> │ </Text> : null}
        {activeRollouts > 0 ? <Seg text={`rollouts ▶${activeRollouts}`} tone="accent" /> : null}
        <Text> │ </Text>
        <Seg text={`${UPGRADE_BADGE}${upgradable} upgradable`} tone={upgradable > 0 ? "upgrade" : "muted"} />
        <Text> │ </Text>
        <Seg text={auto} tone={settings?.autoUpgrade ? "warn" : undefined} />
        <Text> │ {last}</Text>
      </Text>
    </Box>
  );
}
