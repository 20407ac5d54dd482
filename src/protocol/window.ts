/**
 * The maintenance window of the cluster settings: `Sat,Sun 02:00-05:00 UTC`, `Mon-Fri 22:00-02:00
 * Europe/Berlin`, `01:00-04:00`. Days are those on which the window opens (all when omitted); a
 * range whose end is not after its start crosses midnight into the next day; the zone is `UTC`
 * (the default) or an IANA name, read through Intl, so DST follows the zone's rules.
 */

export interface MaintenanceWindow {
  /** The window as it is stored and shown, normalised (`Sat,Sun 02:00-05:00 UTC`). */
  source: string;
  /** Days the window opens on, 0 = Sunday; null: every day. */
  days: readonly number[] | null;
  /** Minutes after local midnight. */
  start: number;
  /** Minutes after local midnight, 1..1440; at or before `start`: the next day. */
  end: number;
  tz: string;
}

export type WindowParse = { ok: true; window: MaintenanceWindow } | { ok: false; error: string };

const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const HHMM = /^([01]?\d|2[0-4]):([0-5]\d)$/;
const SHAPE = /^(?:(\S+)\s+)?(\d{1,2}:\d{2})-(\d{1,2}:\d{2})(?:\s+(\S+))?$/;

const FULL_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

/** `Sat`, `sat`, `Saturday` (a prefix of the full name, three letters at least). */
function dayOf(s: string): number | null {
  const i = FULL_NAMES.findIndex((d) => s.length >= 3 && d.startsWith(s.toLowerCase()));
  return i < 0 ? null : i;
}

function minutesOf(s: string): number | null {
  const m = HHMM.exec(s);
  if (!m) return null;
  const v = Number(m[1]) * 60 + Number(m[2]);
  return v > 1440 ? null : v;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(tz, f);
  }
  return f;
}

const zones = new Map<string, string | null>();

/** A zone Intl knows, as Intl spells it; null when it does not. */
function zoneOf(s: string): string | null {
  if (/^(utc|gmt|z)$/i.test(s)) return "UTC";
  let z = zones.get(s);
  if (z === undefined) {
    try {
      z = new Intl.DateTimeFormat("en-US", { timeZone: s }).resolvedOptions().timeZone;
    } catch {
      z = null;
    }
    if (zones.size < 64) zones.set(s, z);
  }
  return z;
}

/** Parse a window; `days` may be a list (`Sat,Sun`) or ranges (`Mon-Fri`, `Fri-Mon`). */
export function parseWindow(input: string): WindowParse {
  const s = input.trim().replace(/\s+/g, " ");
  const m = SHAPE.exec(s.replace(/\s*-\s*(?=\d)/, "-"));
  const usage = 'such as "Sat,Sun 02:00-05:00 UTC" or "22:00-02:00 Europe/Berlin"';
  if (!m) return { ok: false, error: `not a window: ${JSON.stringify(input)} (${usage})` };
  const [, dayPart, from, to, zonePart] = m;
  const start = minutesOf(from!);
  const end = minutesOf(to!);
  if (start === null || start === 1440)
    return { ok: false, error: `${from} is not a time of day (HH:MM, 00:00 to 23:59)` };
  if (end === null) return { ok: false, error: `${to} is not a time of day (HH:MM)` };
  if (end === start) return { ok: false, error: "the window opens and closes at the same time" };
  let days: number[] | null = null;
  if (dayPart !== undefined) {
    const set = new Set<number>();
    for (const part of dayPart.split(",").filter((x) => x.length > 0)) {
      const range = part.split("-");
      if (range.length > 2) return { ok: false, error: `${part} is not a day or a range of days` };
      const a = dayOf(range[0]!);
      const b = range.length === 2 ? dayOf(range[1]!) : a;
      if (a === null || b === null)
        return { ok: false, error: `${part} is not a day (Mon, Tue, ... Sun) or a range such as Mon-Fri` };
      for (let d = a; ; d = (d + 1) % 7) {
        set.add(d);
        if (d === b) break;
      }
    }
    if (set.size === 0) return { ok: false, error: "no days given" };
    days = set.size === 7 ? null : [...set].sort((x, y) => x - y);
  }
  const tz = zoneOf(zonePart ?? "UTC");
  if (tz === null)
    return { ok: false, error: `unknown time zone ${zonePart} (UTC or an IANA name such as Europe/Berlin)` };
  const hhmm = (v: number) =>
    `${String(Math.floor(v / 60)).padStart(2, "0")}:${String(v % 60).padStart(2, "0")}`;
  // Shown Monday first, as people write weeks.
  const shown = days ? [...days].sort((x, y) => ((x + 6) % 7) - ((y + 6) % 7)) : [];
  const dayText = days ? `${shown.map((d) => DAY_NAMES[d]).join(",")} ` : "";
  return {
    ok: true,
    window: { source: `${dayText}${hhmm(start)}-${hhmm(end)} ${tz}`, days, start, end, tz },
  };
}

interface Wall {
  y: number;
  mo: number;
  d: number;
  /** 0 = Sunday. */
  wd: number;
  /** Minutes after midnight. */
  min: number;
  /** The wall time read as if it were UTC, to the minute. */
  asUtc: number;
}

function wall(at: number, tz: string): Wall {
  const p: Record<string, string> = {};
  for (const x of formatter(tz).formatToParts(new Date(at))) p[x.type] = x.value;
  const y = Number(p.year);
  const mo = Number(p.month) - 1;
  const d = Number(p.day);
  const h = Number(p.hour) % 24;
  const mi = Number(p.minute);
  const sec = Number(p.second);
  return {
    y,
    mo,
    d,
    wd: DAY_NAMES.indexOf(p.weekday!),
    min: h * 60 + mi,
    asUtc: Date.UTC(y, mo, d, h, mi, sec),
  };
}

/** True when `now` is inside the window. */
export function inWindow(w: MaintenanceWindow, now: number): boolean {
  const t = wall(now, w.tz);
  const opensOn = (wd: number) => w.days === null || w.days.includes(wd);
  if (w.start < w.end) return opensOn(t.wd) && t.min >= w.start && t.min < w.end;
  // Across midnight: the evening of an opening day, or the morning after one.
  return (opensOn(t.wd) && t.min >= w.start) || (opensOn((t.wd + 6) % 7) && t.min < w.end);
}

/** The instant a wall time of `tz` happens (for a wall time skipped by DST, one near it). */
function zonedToUtc(y: number, mo: number, d: number, minutes: number, tz: string): number {
  const target = Date.UTC(y, mo, d, 0, minutes);
  let t = target;
  for (let i = 0; i < 3; i++) {
    const off = wall(t, tz).asUtc - Math.floor(t / 1000) * 1000;
    const next = target - off;
    if (next === t) break;
    t = next;
  }
  return t;
}

const MINUTE = 60_000;

/** When the window next opens: `now` when inside it, null when it never opens (no such case today). */
export function nextOpen(w: MaintenanceWindow, now: number): number | null {
  if (inWindow(w, now)) return now;
  const today = wall(now, w.tz);
  for (let k = 0; k <= 8; k++) {
    const date = new Date(Date.UTC(today.y, today.mo, today.d + k));
    if (w.days !== null && !w.days.includes(date.getUTCDay())) continue;
    let c = zonedToUtc(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), w.start, w.tz);
    if (!inWindow(w, c)) {
      // Its opening time was skipped by a DST change: it opens at the change, within the hour.
      if (!inWindow(w, c + 60 * MINUTE)) continue;
      let lo = c;
      let hi = c + 60 * MINUTE;
      while (hi - lo > MINUTE) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
        if (inWindow(w, mid)) hi = mid;
        else lo = mid;
      }
      c = hi;
    }
    if (c > now) return c;
  }
  return null;
}

/** `Sat 02:00 UTC`: an instant as the window's zone shows it. */
export function windowTime(w: MaintenanceWindow, at: number): string {
  const t = wall(at, w.tz);
  const hhmm = `${String(Math.floor(t.min / 60)).padStart(2, "0")}:${String(t.min % 60).padStart(2, "0")}`;
  return `${DAY_NAMES[t.wd]} ${hhmm} ${w.tz}`;
}

/** Why an auto-started rollout admits nothing now, or null when the window is open (or unset). */
export function outsideWindow(w: MaintenanceWindow | null | undefined, now: number): string | null {
  if (!w || inWindow(w, now)) return null;
  const at = nextOpen(w, now);
  return at === null
    ? `outside maintenance window ${w.source}`
    : `outside maintenance window until ${windowTime(w, at)}`;
}
