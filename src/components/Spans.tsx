import { Text } from "ink";
import { createContext, useContext, type ReactNode } from "react";
import { asciiRuns } from "../format/text.js";
import { toneStyle, useTheme, type Tone, type ToneStyle } from "../theme/index.js";

export interface Span {
  text: string;
  tone?: Tone;
  /** A style of its own instead of a tone's (titles). */
  style?: ToneStyle;
}

/** How the whole line a span sits in is drawn: dimmed when stale, inverse/bold when selected. */
export interface LineLook {
  dim?: boolean;
  inverse?: boolean;
  bold?: boolean;
}

/** Read by every span of a line, live cells included, so a selected or stale row looks it throughout. */
export const LineLookContext = createContext<LineLook>({});

/**
 * Styled spans as sibling Ink text nodes, cut wherever the text turns from plain ASCII to other
 * characters (a status glyph, a bar, an ellipsis). Ink measures every text node with string-width
 * on every frame, and string-width takes ~200× longer on a line with one such character than on
 * plain ASCII: cut this way, the glyphs cost a few characters' worth and the rest takes the fast path.
 * Put them in a row Box; nested in a <Text> they would be joined back into one node.
 */
export function Spans({ spans }: { spans: readonly Span[] }): ReactNode {
  const p = useTheme();
  const line = useContext(LineLookContext);
  const out: ReactNode[] = [];
  for (const s of spans) {
    const st = s.style ?? toneStyle(p, s.tone);
    for (const run of asciiRuns(s.text)) {
      out.push(
        <Text
          key={out.length}
          color={st.color}
          bold={st.bold || line.bold}
          dimColor={st.dimColor || line.dim}
          inverse={line.inverse}
          wrap="truncate"
        >
          {run}
        </Text>,
      );
    }
  }
  return out;
}
