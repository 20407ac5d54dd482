import { describe, expect, it } from "vitest";
import {
  inWindow,
  nextOpen,
  outsideWindow,
  parseWindow,
  windowTime,
  type MaintenanceWindow,
} from "../../src/protocol/index.js";

const win = (s: string): MaintenanceWindow => {
  const p = parseWindow(s);
  if (!p.ok) throw new Error(p.error);
  return p.window;
};
const at = (iso: string) => Date.parse(iso);

describe("parseWindow", () => {
  it.each([
    ["Sat,Sun 02:00-05:00 UTC", "Sat,Sun 02:00-05:00 UTC", [0, 6], 120, 300, "UTC"],
    ["sat,sunday 2:00-5:00", "Sat,Sun 02:00-05:00 UTC", [0, 6], 120, 300, "UTC"],
    ["22:00-02:00 Europe/Berlin", "22:00-02:00 Europe/Berlin", null, 1320, 120, "Europe/Berlin"],
    ["Mon-Fri 01:00 - 04:30 utc", "Mon,Tue,Wed,Thu,Fri 01:00-04:30 UTC", [1, 2, 3, 4, 5], 60, 270, "UTC"],
    ["Fri-Mon 23:00-24:00", "Mon,Fri,Sat,Sun 23:00-24:00 UTC", [0, 1, 5, 6], 1380, 1440, "UTC"],
    ["Mon-Sun 00:00-06:00", "00:00-06:00 UTC", null, 0, 360, "UTC"],
  ])("%s", (input, source, days, start, end, tz) => {
    expect(parseWindow(input)).toEqual({ ok: true, window: { source, days, start, end, tz } });
  });

  it.each([
    ["", "not a window"],
    ["Sat 02:00", "not a window"],
    ["Sat 25:00-03:00", "is not a time of day"],
    ["Sat 02:00-02:00", "same time"],
    ["Funday 02:00-03:00", "is not a day"],
    ["Sat 02:00-03:00 Mars/Olympus", "unknown time zone"],
  ])("refuses %j", (input, error) => {
    const p = parseWindow(input);
    expect(p.ok).toBe(false);
    if (!p.ok) expect(p.error).toContain(error);
  });

  it("parses what it prints", () => {
    for (const s of ["Sat,Sun 02:00-05:00 UTC", "Mon-Fri 22:00-02:00 America/New_York", "03:00-04:00"]) {
      const w = win(s);
      expect(win(w.source)).toEqual(w);
    }
  });
});

describe("inWindow and nextOpen", () => {
  // 2026-12-05 is a Saturday.
  it.each([
    // window, now, inside, next opening
    ["Sat,Sun 02:00-05:00 UTC", "2026-12-05T03:00:00Z", true, "2026-12-05T03:00:00Z"],
    ["Sat,Sun 02:00-05:00 UTC", "2026-12-05T05:00:00Z", false, "2026-12-06T02:00:00Z"],
    ["Sat,Sun 02:00-05:00 UTC", "2026-12-05T01:59:00Z", false, "2026-12-05T02:00:00Z"],
    ["Sat,Sun 02:00-05:00 UTC", "2026-12-02T12:00:00Z", false, "2026-12-05T02:00:00Z"],
    ["Sat,Sun 02:00-05:00 UTC", "2026-12-06T06:00:00Z", false, "2026-12-12T02:00:00Z"],
    // Across midnight: Friday 22:00 to Saturday 02:00 only.
    ["Fri 22:00-02:00 UTC", "2026-12-04T23:30:00Z", true, "2026-12-04T23:30:00Z"],
    ["Fri 22:00-02:00 UTC", "2026-12-05T01:30:00Z", true, "2026-12-05T01:30:00Z"],
    ["Fri 22:00-02:00 UTC", "2026-12-05T02:00:00Z", false, "2026-12-11T22:00:00Z"],
    ["Fri 22:00-02:00 UTC", "2026-12-04T01:30:00Z", false, "2026-12-04T22:00:00Z"],
    ["22:00-00:00 UTC", "2026-12-04T23:59:00Z", true, "2026-12-04T23:59:00Z"],
    ["22:00-00:00 UTC", "2026-12-05T00:00:00Z", false, "2026-12-05T22:00:00Z"],
    // A zone: Berlin is UTC+1 in winter, UTC+2 in summer.
    ["Sat 02:00-05:00 Europe/Berlin", "2026-12-05T01:00:00Z", true, "2026-12-05T01:00:00Z"],
    ["Sat 02:00-05:00 Europe/Berlin", "2026-12-05T00:59:00Z", false, "2026-12-05T01:00:00Z"],
    ["Sat 02:00-05:00 Europe/Berlin", "2026-07-04T00:00:00Z", true, "2026-07-04T00:00:00Z"],
    ["Sat 02:00-05:00 Europe/Berlin", "2026-07-03T23:00:00Z", false, "2026-07-04T00:00:00Z"],
    // DST: on 2026-03-29 Berlin's clocks jump from 02:00 to 03:00 (01:00Z); 02:30 never happens,
    // and the window opens when the clocks jump.
    ["02:30-04:00 Europe/Berlin", "2026-03-28T23:00:00Z", false, "2026-03-29T01:00:00Z"],
    ["02:30-04:00 Europe/Berlin", "2026-03-29T01:30:00Z", true, "2026-03-29T01:30:00Z"],
    ["02:30-04:00 Europe/Berlin", "2026-03-29T02:00:00Z", false, "2026-03-30T00:30:00Z"],
    // Across a DST change: New York falls back on 2026-11-01 (06:00Z); 22:00-02:00 lasts 5 hours.
    ["Sat 22:00-02:00 America/New_York", "2026-11-01T02:00:00Z", true, "2026-11-01T02:00:00Z"],
    ["Sat 22:00-02:00 America/New_York", "2026-11-01T06:30:00Z", true, "2026-11-01T06:30:00Z"],
    ["Sat 22:00-02:00 America/New_York", "2026-11-01T07:00:00Z", false, "2026-11-08T03:00:00Z"],
  ])("%s at %s", (w, now, inside, next) => {
    const window = win(w);
    expect(inWindow(window, at(now))).toBe(inside);
    expect(new Date(nextOpen(window, at(now))!).toISOString()).toBe(new Date(at(next)).toISOString());
  });

  it("says why an auto-started rollout waits, in the window's zone", () => {
    const w = win("Sat,Sun 02:00-05:00 UTC");
    expect(outsideWindow(w, at("2026-12-02T12:00:00Z"))).toBe(
      "outside maintenance window until Sat 02:00 UTC",
    );
    expect(outsideWindow(w, at("2026-12-05T03:00:00Z"))).toBeNull();
    expect(outsideWindow(null, at("2026-12-02T12:00:00Z"))).toBeNull();
    expect(windowTime(win("Sat 02:00-05:00 Europe/Berlin"), at("2026-07-04T00:00:00Z"))).toBe(
      "Sat 02:00 Europe/Berlin",
    );
  });
});
