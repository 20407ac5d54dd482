import { charWidth, displayWidth, sanitize } from "./text.js";

/** Cut one word longer than a line into pieces of at most `width` columns. */
function hardBreak(word: string, width: number): string[] {
  const out: string[] = [];
  let cur = "";
  let w = 0;
  for (const ch of word) {
    const cw = charWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > width && cur) {
      out.push(cur);
      cur = "";
      w = 0;
    }
    cur += ch;
    w += cw;
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Wrap text to lines of at most `width` columns, breaking between words; a word longer than a
 * line (a digest, a URL) is broken inside. Newlines in the text start new lines.
 */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const out: string[] = [];
  for (const para of text.split(/\r?\n/)) {
    let line = "";
    for (const word of sanitize(para).split(" ").filter(Boolean)) {
      const room = line ? w - displayWidth(line) - 1 : w;
      if (displayWidth(word) <= room) {
        line = line ? `${line} ${word}` : word;
        continue;
      }
      if (displayWidth(word) <= w) {
        out.push(line);
        line = word;
        continue;
      }
      // Longer than a line (a URL, a digest): start it here and carry on over the next lines.
      const head = room >= 8 ? hardBreak(word, room)[0]! : "";
      if (head) line = line ? `${line} ${head}` : head;
      const pieces = hardBreak(word.slice(head.length), w);
      for (const piece of pieces) {
        if (line) out.push(line);
        line = piece;
      }
    }
    out.push(line);
  }
  return out;
}
