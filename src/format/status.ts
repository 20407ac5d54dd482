import type { NodeStatus, OpState, Phase } from "../protocol/index.js";
import { nodeStatusLook, opStateLook, phaseWord, type StatusLook } from "../theme/symbols.js";
import type { Tone } from "../theme/tokens.js";

/** A status as a cell shows it: glyph and word ("✓ healthy"), so it never rests on colour alone. */
export interface StatusText {
  text: string;
  tone: Tone;
}

/** `word` stands in for the look's own word where the cell says more (a running op's phase). */
export function statusText(look: StatusLook, word: string = look.word): StatusText {
  return { text: `${look.glyph} ${word}`, tone: look.tone };
}

/** A node's status; a node missing from the nodes bucket reads "? unknown". */
export function nodeStatusText(status: NodeStatus | undefined): StatusText {
  return status ? statusText(nodeStatusLook[status]) : { text: "? unknown", tone: "muted" };
}

/** An op's state; a running op given its phase names the phase instead ("▶ download"). */
export function opStateText(state: OpState, phase?: Phase): StatusText {
  const look = opStateLook[state];
  return statusText(look, state === "running" && phase ? phaseWord[phase] : look.word);
}
