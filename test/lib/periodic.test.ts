import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Periodic, type PeriodicReason } from "../../src/lib/periodic.js";

/** A task whose runs end when the test says so; it records why each ran and the most at once. */
function controlledTask() {
  const finish: Array<(fail?: Error) => void> = [];
  const why: PeriodicReason[] = [];
  let active = 0;
  let most = 0;
  let ended = 0;
  const run = async (reason: PeriodicReason) => {
    why.push(reason);
    most = Math.max(most, ++active);
    try {
      await new Promise<void>((resolve, reject) => finish.push((e) => (e ? reject(e) : resolve())));
    } finally {
      active--;
      ended++;
    }
  };
  return {
    run,
    why,
    /** End the oldest run still going and let its continuation settle. */
    async end(fail?: Error) {
      finish.shift()!(fail);
      await vi.advanceTimersByTimeAsync(0);
    },
    most: () => most,
    ended: () => ended,
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Periodic", () => {
  it("runs every interval, counting from the end of the last run", async () => {
    const t = controlledTask();
    const p = new Periodic({ intervalMs: 100, run: t.run });
    p.start();
    await vi.advanceTimersByTimeAsync(99);
    expect(t.why).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.why).toEqual(["timer"]);
    // A long run: no second run while it goes, however many intervals pass.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.why).toHaveLength(1);
    await t.end();
    await vi.advanceTimersByTimeAsync(99);
    expect(t.why).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.why).toEqual(["timer", "timer"]);
    expect(t.most()).toBe(1);
    await t.end();
    await p.stop();
  });

  it("runs at once on start({ now: true })", async () => {
    const t = controlledTask();
    const p = new Periodic({ intervalMs: 100, run: t.run });
    p.start({ now: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.why).toEqual(["start"]);
    await t.end();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.why).toEqual(["start", "timer"]);
    await t.end();
    await p.stop();
  });

  it("runNow runs at once, joins a run in flight instead of overlapping, and restarts the countdown", async () => {
    const t = controlledTask();
    const p = new Periodic({ intervalMs: 100, run: t.run });
    p.start();
    await vi.advanceTimersByTimeAsync(60);
    const a = p.runNow();
    const b = p.runNow();
    expect(b).toBe(a);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.why).toEqual(["now"]);
    await t.end();
    await a;
    // The countdown began again when the run ended, not at start.
    await vi.advanceTimersByTimeAsync(99);
    expect(t.why).toEqual(["now"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.why).toEqual(["now", "timer"]);
    expect(t.most()).toBe(1);
    await t.end();
    await p.stop();
  });

  it("stop cancels the countdown and waits for the run in flight", async () => {
    const t = controlledTask();
    const p = new Periodic({ intervalMs: 100, run: t.run });
    p.start({ now: true });
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = p.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    await t.end();
    await stopping;
    expect(t.ended()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.why).toEqual(["start"]);
    expect(p.isActive).toBe(false);
  });

  it("keeps one chain of runs when restarted while a run from before is in flight", async () => {
    const t = controlledTask();
    const p = new Periodic({ intervalMs: 100, run: t.run });
    p.start({ now: true });
    await vi.advanceTimersByTimeAsync(0);
    void p.stop();
    p.start({ now: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.why).toEqual(["start"]);
    // The old run ends; the new start's own first run follows it, never alongside it.
    await t.end();
    expect(t.why).toEqual(["start", "start"]);
    await t.end();
    await vi.advanceTimersByTimeAsync(100);
    expect(t.why).toEqual(["start", "start", "timer"]);
    await vi.advanceTimersByTimeAsync(500);
    expect(t.why).toHaveLength(3);
    expect(t.most()).toBe(1);
    await t.end();
    await p.stop();
  });

  it("reports a failed run and carries on", async () => {
    const t = controlledTask();
    const errors: unknown[] = [];
    const p = new Periodic({ intervalMs: 100, run: t.run, onError: (e) => errors.push(e) });
    p.start({ now: true });
    await vi.advanceTimersByTimeAsync(0);
    await t.end(new Error("boom"));
    expect(errors).toEqual([new Error("boom")]);
    await vi.advanceTimersByTimeAsync(100);
    expect(t.why).toEqual(["start", "timer"]);
    await t.end();
    await p.stop();
  });

  it("reads a function interval each time the countdown starts; restart applies a change", async () => {
    const t = controlledTask();
    let interval = 100;
    const p = new Periodic({ intervalMs: () => interval, run: t.run });
    p.start();
    await vi.advanceTimersByTimeAsync(50);
    interval = 500;
    p.restart();
    await vi.advanceTimersByTimeAsync(499);
    expect(t.why).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.why).toEqual(["timer"]);
    await t.end();
    await p.stop();
  });
});
