import { Box, Text } from "ink";
import { useEffect, useMemo, useRef, type ReactNode } from "react";
import { TitleLine } from "../../components/TitleLine.js";
import { auditLine, opDetailFields, type InstalledBefore } from "../../format/op-detail.js";
import { navTarget } from "../../format/nav.js";
import { displayWidth } from "../../format/text.js";
import { wrapText } from "../../format/wrap.js";
import { useActions, useDash, useDashEnv, useLive } from "../../hooks/context.js";
import { useViewCommands } from "../../hooks/useKeys.js";
import { useNow } from "../../hooks/useNow.js";
import { isActive, type Inventory, type OpRecord } from "../../protocol/index.js";
import { EMPTY_TABLE } from "../../store/index.js";
import { toneStyle, useTheme } from "../../theme/index.js";
import type { Tone } from "../../theme/tokens.js";
import { runOpAction } from "../ops/actions.js";
import type { ViewProps } from "../types.js";

interface Line {
  label: string;
  text: string;
  tone?: Tone;
  dim?: boolean;
}

const LABEL = 13;

/** Labelled fields, each value wrapped to the width left of its label (continuations indented). */
function layout(fields: ReturnType<typeof opDetailFields>, events: string[], width: number): Line[] {
  const w = Math.max(10, width - LABEL - 1);
  const out: Line[] = [];
  for (const f of fields)
    wrapText(f.value, w).forEach((text, i) =>
      out.push({ label: i === 0 ? f.label : "", text, tone: f.tone }),
    );
  out.push({ label: "events", text: events.length === 0 ? "" : (events[0] ?? "") });
  for (const e of events.slice(1)) out.push({ label: "", text: e });
  // Events wrap too, on their own lines under the label.
  return out.flatMap((l) =>
    displayWidth(l.text) <= w
      ? [l]
      : wrapText(l.text, w).map((text, i) => ({ ...l, label: i === 0 ? l.label : "", text })),
  );
}

/** What was installed on the op's node before it ran: the inventory's, while the op is still running. */
function installedBefore(op: OpRecord, inv: Inventory | undefined): InstalledBefore | undefined {
  if (!inv) return undefined;
  const b = inv.backends.find((x) => x.name === (op.target?.name ?? op.backend));
  return b ? { version: b.metadata.version, digest: b.metadata.digest } : undefined;
}

/** One operation in full: every field of its record, each phase with its time, the whole error, its audit trail. */
export function OpDetailView({ entry, width, height }: ViewProps): ReactNode {
  const id = entry.param ?? "";
  const live = useDash((s) => s.ops.get(id));
  const events = useDash((s) => s.opEvents[id]);
  // An op no longer in the ops bucket is still told by the last record its audit trail carries.
  const op = live ?? [...(events?.data ?? [])].reverse().find((e) => e.op)?.op;
  const inv = useDash((s) => (op ? s.inventory.get(op.nodeId) : undefined));
  const scroll = useDash((s) => (s.tables[`op:${id}`] ?? EMPTY_TABLE).selectedIndex);
  const connected = useLive();
  const now = useNow(1000);
  const { runner } = useDashEnv();
  const actions = useActions();
  const p = useTheme();

  // The trail is reloaded when the op's state or attempt changes (a new audit event is due then).
  const nodeId = op?.nodeId;
  const backend = op?.backend;
  useEffect(() => {
    if (nodeId !== undefined && backend !== undefined) void runner.loadOpEvents({ id, nodeId, backend });
  }, [runner, id, nodeId, backend, live?.state, live?.attempts]);

  // The inventory tells what was there only while the op runs (it changes as the op lands): keep that.
  const beforeRef = useRef<InstalledBefore | undefined>(undefined);
  if (op && isActive(op)) beforeRef.current = installedBefore(op, inv);
  // The controller records it at admission; older records leave it to the inventory.
  const before = op?.from ?? beforeRef.current;
  const lines = useMemo(() => {
    if (!op) return [];
    const trail =
      events?.status === "error"
        ? [`cannot load: ${events.error ?? "?"}`]
        : events?.status === "ok" || (events?.data.length ?? 0) > 0
          ? events!.data.map((e) => auditLine(e, now))
          : ["loading…"];
    return layout(opDetailFields(op, before, now), trail.length > 0 ? trail : ["none recorded"], width);
  }, [op, before, events, now, width]);

  const body = height - 1;
  const maxScroll = Math.max(0, lines.length - body);
  const top = Math.min(scroll, maxScroll);
  useViewCommands("op", (cmd) => {
    const next = navTarget(cmd, top, Math.max(1, body - 1), maxScroll);
    if (next !== undefined) {
      actions.setTable(`op:${id}`, { selectedIndex: next });
      return true;
    }
    switch (cmd) {
      case "op.cancel":
      case "op.dismiss":
      case "op.retry":
        if (op) runOpAction(cmd, [op], `${op.kind} ${op.backend} @${op.nodeId}`, runner, actions.toast);
        return true;
      default:
        return false;
    }
  });

  const crumbs = ["Operations", op ? `${op.kind} ${op.backend} @${op.nodeId}` : id];
  if (!op) {
    return (
      <Box flexDirection="column" height={height}>
        <TitleLine crumbs={crumbs} width={width} />
        <Text dimColor>
          {events?.status === "loading" || events === undefined
            ? `looking for ${id}…`
            : `operation ${id} is not in the ops bucket nor in the audit trail`}
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
        <Text key={i} wrap="truncate" dimColor={!connected}>
          <Text dimColor>{l.label.padEnd(LABEL)} </Text>
          <Text {...(l.tone ? toneStyle(p, l.tone) : {})}>{l.text}</Text>
        </Text>
      ))}
    </Box>
  );
}
