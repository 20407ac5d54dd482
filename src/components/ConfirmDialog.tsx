import { Box, Text } from "ink";
import type { ReactNode } from "react";
import { displayWidth, sanitize, truncate } from "../format/text.js";
import { wrapText } from "../format/wrap.js";
import { useDash } from "../hooks/context.js";
import { toneStyle, useTheme } from "../theme/index.js";

/**
 * The confirm dialog, drawn in place of the view (never over it). Cancel is focused first, as in
 * k9s, so a stray Enter never confirms; fleet-wide actions also need the backend name typed.
 */
export function ConfirmDialog({ width, height }: { width: number; height: number }): ReactNode {
  const d = useDash((s) => s.dialog);
  const p = useTheme();
  if (!d) return null;
  const w = Math.min(width - 2, 70);
  const inner = w - 4;
  const typed = d.typeToConfirm !== undefined;
  // Border, blank line, buttons and hint take 5 lines, the typed field one more: the text gets the
  // rest, and says how much it left out rather than pushing the buttons off the screen.
  const titleLines = wrapText(d.title, inner).length;
  // A line that fits keeps its spacing (a plan's columns); a longer one wraps between words.
  const fitOrWrap = (l: string) => (displayWidth(sanitize(l)) <= inner ? [sanitize(l)] : wrapText(l, inner));
  const all = [...wrapText(d.title, inner), ...d.lines.flatMap(fitOrWrap)];
  const room = Math.max(titleLines + 1, height - 5 - (typed ? 1 : 0));
  const text =
    all.length <= room ? all : [...all.slice(0, room - 1), `… ${all.length - room + 1} more lines not shown`];
  const ready = d.blocked === undefined && (!typed || d.typed === d.typeToConfirm);
  const button = (label: string, focused: boolean, enabled = true) => (
    <Text inverse={focused} bold={focused} dimColor={!enabled}>
      {focused ? `▸[ ${label} ]` : ` [ ${label} ]`}
    </Text>
  );
  return (
    <Box width={width} height={height} flexDirection="column" alignItems="center" justifyContent="center">
      <Box
        flexDirection="column"
        width={w}
        borderStyle="round"
        borderColor={toneStyle(p, "warn").color}
        paddingX={1}
      >
        {text.map((l, i) => (
          <Text key={i} bold={i < titleLines} wrap="truncate">
            {l}
          </Text>
        ))}
        {typed ? (
          <Text wrap="truncate">
            {"> "}
            {truncate(d.typed, inner - 3)}
            <Text inverse> </Text>
          </Text>
        ) : null}
        <Text> </Text>
        <Box>
          {button("No", d.focus === "cancel" && !typed)}
          <Text> </Text>
          {button(d.action, d.focus === "action" || (typed && ready), ready)}
        </Box>
        <Text dimColor wrap="truncate">
          {d.blocked !== undefined
            ? `${d.blocked} · n/esc cancel`
            : typed
              ? "type the name, enter confirms, esc cancels"
              : `${d.choices ? "j/k choose · " : ""}y confirm · n/esc cancel · tab switch · enter press`}
        </Text>
      </Box>
    </Box>
  );
}
