/** Semantic colour tokens: components ask for a meaning, the palette decides the colour. */
export type Tone = "normal" | "ok" | "warn" | "err" | "muted" | "accent" | "upgrade" | "dev" | "info";

export interface ToneStyle {
  color?: string;
  bold?: boolean;
  dimColor?: boolean;
}

export interface Palette {
  name: string;
  tones: Record<Tone, ToneStyle>;
  /** Style of the selected table row; a `›` marker is always drawn too, so colour is never needed. */
  selection: { inverse?: boolean; color?: string; backgroundColor?: string; bold?: boolean };
  title: ToneStyle;
  border: string | undefined;
}
