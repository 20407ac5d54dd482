/**
 * Terminal text measuring and fitting. Our cells are mostly ASCII names, so a small width table
 * (wide East Asian and emoji ranges count 2, combining marks 0) is enough and keeps this pure.
 */

function isCombining(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    cp === 0x200d
  );
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

export function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (isCombining(cp)) return 0;
  return isWide(cp) ? 2 : 1;
}

/** Columns `s` takes on a terminal (no ANSI codes expected: we style with Ink props, not escapes). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0) ?? 0);
  return w;
}

/** Drop control characters so a record field can never move the cursor. */
export function sanitize(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

/**
 * Cut `s` to at most `width` columns, ending with `…` when something was cut. Control characters
 * become spaces first, so a newline in an error message can never break a row.
 */
export function truncate(raw: string, width: number): string {
  if (width <= 0) return "";
  const s = sanitize(raw);
  if (displayWidth(s) <= width) return s;
  let out = "";
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0) ?? 0);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + "…";
}

/** Truncate then pad to exactly `width` columns. */
export function fit(s: string, width: number, align: "left" | "right" = "left"): string {
  const t = truncate(s, width);
  const pad = " ".repeat(Math.max(0, width - displayWidth(t)));
  return align === "right" ? pad + t : t + pad;
}

const ASCII_RUNS = /[\x20-\x7e]+|[^\x20-\x7e]+/g;

/** Cut `s` where it turns from printable ASCII to anything else and back: "✓ ok…" → ["✓", " ok", "…"]. */
export function asciiRuns(s: string): string[] {
  return s.match(ASCII_RUNS) ?? [];
}
