import { Box, Text } from "ink";
import { useMemo, type ReactNode } from "react";
import { OpProgress } from "../../components/OpProgress.js";
import { Spans } from "../../components/Spans.js";
import { TitleLine } from "../../components/TitleLine.js";
import { rolloutDetailLines, type DetailLine } from "../../format/rollout-detail.js";
import { fit, truncate } from "../../format/text.js";
import { useActions, useDash, useDashEnv } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import type { RolloutNode } from "../../protocol/index.js";
import { EMPTY_TABLE } from "../../store/index.js";
import { rolloutLabel, runRolloutAction } from "../rollouts/actions.js";
import type { ViewProps } from "../types.js";
import { navTarget } from "../../format/nav.js";

const LABEL = 12;
const NODE = 20;
const OUTCOME = 12;

function LineView({ l, width }: { l: DetailLine; width: number }): ReactNode {
  if (l.kind === "field") {
    return (
      <Box width={width}>
        <Spans
          spans={[
            { text: `${fit(l.label, LABEL)} `, tone: "muted" },
            { text: truncate(l.text, Math.max(4, width - LABEL - 1)), tone: l.tone },
          ]}
        />
      </Box>
    );
  }
  const head = `  ${fit(l.node, NODE)} `;
  const rest = width - 2 - NODE - 1 - OUTCOME - 1;
  return (
    <Box width={width}>
      <Spans spans={[{ text: head }, { text: `${fit(l.outcome, OUTCOME)} `, tone: l.tone }]} />
      {l.opId ? (
        <OpProgress opId={l.opId} />
      ) : l.note && rest > 4 ? (
        <Spans spans={[{ text: truncate(l.note, rest), tone: "muted" }]} />
      ) : null}
    </Box>
  );
}

/** One rollout: its state, gate (the soak countdown), failure budget, and every wave with its nodes. */
export function RolloutDetailView({ entry, width, height }: ViewProps): ReactNode {
  const id = entry.param ?? "";
  const r = useDash((s) => s.rollouts.get(id));
  const nodes = useDash((s) => s.rollout_nodes);
  const ops = useDash((s) => s.ops);
  const synced = useDash((s) => s.synced.rollouts);
  const scroll = useDash((s) => (s.tables[`rollout:${id}`] ?? EMPTY_TABLE).selectedIndex);
  const now = useNow(1000);
  const { runner } = useDashEnv();
  const actions = useActions();

  const rows = useMemo(() => {
    const out: RolloutNode[] = [];
    for (const n of nodes.values()) if (n.rollout === id) out.push(n);
    return out.sort((a, b) => a.i - b.i);
  }, [nodes, id]);
  const lines = useMemo(() => (r ? rolloutDetailLines(r, rows, ops, now) : []), [r, rows, ops, now]);

  const body = height - 1;
  const maxScroll = Math.max(0, lines.length - body);
  const top = Math.min(scroll, maxScroll);
  useViewCommands("rollout", (cmd) => {
    const next = navTarget(cmd, top, Math.max(1, body - 1), maxScroll);
    if (next === undefined) return runRolloutAction(cmd, r, rows, runner, actions.toast);
    actions.setTable(`rollout:${id}`, { selectedIndex: next });
    return true;
  });

  const crumbs = ["Rollouts", r ? rolloutLabel(r, rows) : id];
  if (!r) {
    return (
      <Box flexDirection="column" height={height}>
        <TitleLine crumbs={crumbs} width={width} />
        <Text dimColor>
          {synced ? `rollout ${id} is not in the rollouts bucket` : "waiting for the rollouts bucket…"}
        </Text>
      </Box>
    );
  }
  const shown = lines.slice(top, top + body);
  return (
    <Box flexDirection="column" height={height}>
      <TitleLine
        crumbs={crumbs}
        width={width}
        note={lines.length > body ? `lines ${top + 1}–${top + shown.length} of ${lines.length}` : undefined}
      />
      {shown.map((l, i) => (
        <LineView key={i} l={l} width={width} />
      ))}
    </Box>
  );
}
