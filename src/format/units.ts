const UNITS = ["B", "K", "M", "G", "T", "P"] as const;

/** Compact byte count: 512B, 1.5K, 23M, 1.2G (powers of 1024, at most 4 significant chars). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return "-";
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 10 ? 0 : 1;
  return `${v.toFixed(digits)}${UNITS[i]}`;
}

export function rate(bytesPerSec: number | null | undefined): string {
  if (bytesPerSec === null || bytesPerSec === undefined || bytesPerSec <= 0) return "-";
  return `${bytes(bytesPerSec)}/s`;
}

/** A duration in seconds as 45s, 3m05s, 2h10m, 3d4h. */
export function duration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return "-";
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** How long ago `at` was, relative to `now` (both epoch ms): "3s", "4m10s"; "-" when unknown. */
export function age(at: number | null | undefined, now: number): string {
  if (at === null || at === undefined || at <= 0) return "-";
  return duration(Math.max(0, (now - at) / 1000));
}

/** Local wall-clock time, HH:MM:SS (or the local date too when not today). */
export function clock(at: number, now: number): string {
  const d = new Date(at);
  if (d.toDateString() === new Date(now).toDateString()) return d.toTimeString().slice(0, 8);
  return localTime(at);
}

/** A point in time for people: local date and time, `2026-12-02 07:51:28` (JSON output keeps ISO 8601). */
export function localTime(at: number): string {
  const d = new Date(at);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${d.toTimeString().slice(0, 8)}`;
}

/** Parse an interval typed by an operator: "90", "90s", "15m", "6h", "1d" → seconds, or null. */
export function parseInterval(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "").toLowerCase()] ?? 1;
  const sec = Math.round(n * mult);
  return Number.isFinite(sec) ? sec : null;
}

/** First 8 hex digits of a `sha256:` digest (or of whatever it is). */
export function shortDigest(d: string | undefined): string {
  if (!d) return "";
  const hex = d.includes(":") ? d.slice(d.indexOf(":") + 1) : d;
  return hex.slice(0, 8);
}
