import { createContext, useContext } from "react";
import { defaultPalette } from "./palettes.js";
import type { Palette, Tone, ToneStyle } from "./tokens.js";

export const ThemeContext = createContext<Palette>(defaultPalette);

export function useTheme(): Palette {
  return useContext(ThemeContext);
}

export function toneStyle(p: Palette, tone: Tone | undefined): ToneStyle {
  return p.tones[tone ?? "normal"];
}
