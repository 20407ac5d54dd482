import type { Palette } from "./tokens.js";

/**
 * Default palette from the Okabe–Ito set (safe for the common colour-vision deficiencies: no
 * red/green pairing; ok is blue, failure vermillion, warning orange). Every status also carries a
 * glyph and a word (see symbols.ts), so no state is told by colour alone.
 */
export const defaultPalette: Palette = {
  name: "default",
  tones: {
    normal: {},
    ok: { color: "#56B4E9" },
    warn: { color: "#E69F00" },
    err: { color: "#D55E00", bold: true },
    muted: { dimColor: true },
    accent: { color: "#0072B2", bold: true },
    upgrade: { color: "#CC79A7", bold: true },
    dev: { color: "#F0E442" },
    info: { color: "#009E73" },
  },
  selection: { inverse: true },
  title: { color: "#56B4E9", bold: true },
  border: "gray",
};

/** No colour at all: what NO_COLOR, --no-color and theme "mono" select. */
export const monoPalette: Palette = {
  name: "mono",
  tones: {
    normal: {},
    ok: {},
    warn: {},
    err: {},
    muted: {},
    accent: {},
    upgrade: {},
    dev: {},
    info: {},
  },
  selection: {},
  title: {},
  border: undefined,
};

export const palettes: Record<string, Palette> = { default: defaultPalette, mono: monoPalette };
export const THEME_NAMES = Object.keys(palettes);

export function paletteFor(name: string | undefined, noColor: boolean): Palette {
  if (noColor) return monoPalette;
  return palettes[name ?? "default"] ?? defaultPalette;
}
