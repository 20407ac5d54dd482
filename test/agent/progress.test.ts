import { describe, expect, it } from "vitest";
import { ProgressReporter, type Clock } from "../../src/agent/progress.js";
import { RateLimiter } from "../../src/agent/rate-limit.js";
import type { ProgressEvent } from "../../src/protocol/index.js";

/** A clock the test moves by hand; timers fire when it passes them. */
class FakeClock implements Clock {
  t = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== h);
  };
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (!due || due.at > end) break;
      this.timers.shift();
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

function reporter(clock: FakeClock) {
  const events: ProgressEvent[] = [];
  const r = new ProgressReporter({
    opId: "op-1",
    nodeId: "n",
    backend: "b",
    publish: (e) => events.push(e),
    clock,
  });
  return { r, events };
}

describe("progress reporter", () => {
  it("publishes at most one event per 250 ms, always with the newest numbers", () => {
    const clock = new FakeClock();
    const { r, events } = reporter(clock);
    r.setTotal(10_000);
    r.setPhase("downloading");
    for (let i = 0; i < 100; i++) {
      r.add(100);
      clock.advance(10);
    }
    clock.advance(1000);
    const ats = events.map((e) => e.at);
    for (let i = 1; i < ats.length; i++) expect(ats[i]! - ats[i - 1]!).toBeGreaterThanOrEqual(250);
    expect(events.at(-1)!.bytesDone).toBe(10_000);
    expect(events.length).toBeLessThanOrEqual(1 + Math.ceil(1000 / 250) + 1);
  });

  it("the final event keeps the spacing and is marked final", async () => {
    const clock = new FakeClock();
    const { r, events } = reporter(clock);
    r.add(1);
    const done = r.finish();
    expect(events).toHaveLength(1);
    clock.advance(250);
    await done;
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ final: true, bytesPerSec: 0 });
    expect(events[1]!.at - events[0]!.at).toBeGreaterThanOrEqual(250);
    r.add(5);
    clock.advance(1000);
    expect(events).toHaveLength(2);
  });

  it("stays monotonic when a source is retried from byte 0, and counts across layers", () => {
    const clock = new FakeClock();
    const { r, events } = reporter(clock);
    r.setTotal(300);
    r.add(100); // layer 1
    clock.advance(300);
    r.add(50); // layer 2, then the mirror switch
    clock.advance(300);
    r.newAttempt();
    r.add(120);
    clock.advance(300);
    expect(r.bytesDone).toBe(150);
    r.add(100);
    clock.advance(300);
    expect(r.bytesDone).toBe(220);
    const done = events.map((e) => e.bytesDone);
    expect([...done].sort((a, b) => a - b)).toEqual(done);
  });

  it("computes rate over the recent window and the ETA from it", () => {
    const clock = new FakeClock();
    const { r } = reporter(clock);
    r.setTotal(10_000);
    for (let i = 0; i < 10; i++) {
      r.add(100);
      clock.advance(100);
    }
    const s = r.snapshot();
    expect(s.bytesPerSec).toBeGreaterThanOrEqual(850);
    expect(s.bytesPerSec).toBeLessThan(1200);
    expect(s.etaSec).toBeCloseTo(9_000 / s.bytesPerSec, 5);
    const unknown = reporter(clock).r;
    unknown.add(10);
    expect(unknown.snapshot().etaSec).toBeNull();
  });
});

describe("rate limiter", () => {
  it("spaces chunks so the average rate holds, shared by everyone using it", () => {
    let now = 0;
    const l = new RateLimiter(1000, () => now);
    expect(l.reserve(500)).toBe(0);
    expect(l.reserve(500)).toBe(500);
    expect(l.reserve(1000)).toBe(1000);
    now = 5000;
    expect(l.reserve(100)).toBe(0);
  });

  it("a wait can be aborted", async () => {
    const l = new RateLimiter(10);
    await l.take(10);
    const ac = new AbortController();
    const p = l.take(10, ac.signal);
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
  });
});
