import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FramePacer } from "../../../src/app/frame-pacer.js";

/** A pacer on fake timers: `now` follows the fake clock. */
function pacer(maxFps = 15, burst = 2) {
  const drawn: number[] = [];
  const p = new FramePacer({ maxFps, burst, now: () => Date.now() });
  p.attach(() => drawn.push(Date.now()));
  return { p, drawn };
}

/** Most frames drawn in any window of `ms`. */
function densest(times: number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "Date"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("FramePacer", () => {
  it("draws a storm of changes at most 15 times a second, the last change included", () => {
    const { p, drawn } = pacer();
    for (let t = 0; t < 2_000; t++) {
      p.request();
      vi.advanceTimersByTime(1);
    }
    const lastChange = Date.now() - 1;
    vi.advanceTimersByTime(200);
    expect(densest(drawn, 1_000)).toBeLessThanOrEqual(15);
    expect(drawn.length).toBeGreaterThanOrEqual(28);
    // Data frames are spaced by a whole interval, never bunched.
    const gaps = drawn.slice(1).map((t, i) => t - drawn[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(66);
    expect(drawn.at(-1)!).toBeGreaterThanOrEqual(lastChange);
  });

  it("draws a key's frame at once, even just after a data frame", () => {
    const { p, drawn } = pacer();
    p.request();
    expect(drawn).toHaveLength(1);
    vi.advanceTimersByTime(5);
    p.request();
    expect(drawn).toHaveLength(1);
    p.expectInput();
    p.request();
    expect(drawn).toHaveLength(2);
    expect(drawn[1]! - drawn[0]!).toBe(5);
    // The data change pending before the key was drawn with it: no trailing frame is left.
    vi.advanceTimersByTime(500);
    expect(drawn).toHaveLength(2);
  });

  it("holds keys typed faster than the cap to 15 frames a second", () => {
    const { p, drawn } = pacer();
    for (let t = 0; t < 3_000; t += 20) {
      p.expectInput();
      p.request();
      vi.advanceTimersByTime(20);
    }
    vi.advanceTimersByTime(200);
    expect(densest(drawn, 1_000)).toBeLessThanOrEqual(15 + 2);
    expect(drawn.length).toBeLessThanOrEqual(3 * 15 + 2 + 1);
    expect(drawn.length).toBeGreaterThanOrEqual(3 * 15 - 1);
  });

  it("forgets a key that changed nothing once the event loop moves on", () => {
    const { p, drawn } = pacer();
    p.request();
    vi.advanceTimersByTime(10);
    p.expectInput();
    vi.advanceTimersByTime(1);
    p.request();
    expect(drawn).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(drawn).toHaveLength(2);
    expect(drawn[1]! - drawn[0]!).toBeGreaterThanOrEqual(66);
  });

  it("draws nothing after it is detached", () => {
    const { p, drawn } = pacer();
    p.request();
    p.request();
    p.detach();
    vi.advanceTimersByTime(1_000);
    expect(drawn).toHaveLength(1);
  });
});
