import { describe, expect, it } from "vitest";
import { LeaderDuties, type LeaderDuty } from "../../src/controller/duties.js";
import { silentLogger } from "../../src/lib/log.js";

/** Duties that record what happens to them; `slowStop` ones stop only when released. */
function recorder() {
  const events: string[] = [];
  const releases: Array<() => void> = [];
  const duty = (name: string, o: { slowStop?: boolean; failStart?: boolean } = {}): LeaderDuty => ({
    name,
    start(term) {
      if (o.failStart) throw new Error(`${name} cannot start`);
      events.push(`start ${name} ${term}`);
    },
    stop() {
      events.push(`stop ${name}`);
      if (o.slowStop)
        return new Promise<void>((r) =>
          releases.push(() => {
            events.push(`stopped ${name}`);
            r();
          }),
        );
    },
  });
  return { events, releases, duty };
}

const telemetry = { log: silentLogger };

describe("LeaderDuties", () => {
  it("starts in order at once and stops in reverse, numbering terms", async () => {
    const r = recorder();
    const duties = new LeaderDuties([r.duty("a"), r.duty("b"), r.duty("c")], telemetry);
    void duties.follow(true);
    expect(r.events).toEqual(["start a 1", "start b 1", "start c 1"]);
    await duties.follow(false);
    await duties.follow(true);
    expect(r.events).toEqual([
      "start a 1",
      "start b 1",
      "start c 1",
      "stop c",
      "stop b",
      "stop a",
      "start a 2",
      "start b 2",
      "start c 2",
    ]);
  });

  it("ignores a repeated state", async () => {
    const r = recorder();
    const duties = new LeaderDuties([r.duty("a")], telemetry);
    await duties.follow(false);
    await duties.follow(true);
    await duties.follow(true);
    expect(r.events).toEqual(["start a 1"]);
  });

  it("stops every duty at once in reverse, and settles when their work has drained", async () => {
    const r = recorder();
    const duties = new LeaderDuties(
      [r.duty("a"), r.duty("slow", { slowStop: true }), r.duty("c")],
      telemetry,
    );
    void duties.follow(true);
    let drained = false;
    const down = duties.follow(false).then(() => (drained = true));
    // Every stop is called before follow returns, so a new term never meets a running duty.
    expect(r.events.slice(3)).toEqual(["stop c", "stop slow", "stop a"]);
    await Promise.resolve();
    expect(drained).toBe(false);
    // The next term does not wait for the last one's work to drain.
    void duties.follow(true);
    expect(r.events.slice(6)).toEqual(["start a 2", "start slow 2", "start c 2"]);
    r.releases.shift()!();
    await down;
    expect(drained).toBe(true);
  });

  it("carries on past a duty that fails to start, and does not stop what never started", async () => {
    const r = recorder();
    const duties = new LeaderDuties(
      [r.duty("a"), r.duty("bad", { failStart: true }), r.duty("c")],
      telemetry,
    );
    await duties.follow(true);
    await duties.follow(false);
    expect(r.events).toEqual(["start a 1", "start c 1", "stop c", "stop a"]);
  });

  it("names a duty whose start held the event loop past 100 ms, and only that one", async () => {
    const warned: Array<Record<string, unknown> | undefined> = [];
    const log = { ...silentLogger, warn: (_: string, f?: Record<string, unknown>) => void warned.push(f) };
    const busy: LeaderDuty = {
      name: "busy",
      start() {
        // A synchronous pass over a large fleet, as OpAuditor's replay once was.
        const until = performance.now() + 150;
        while (performance.now() < until);
      },
      stop() {},
    };
    const duties = new LeaderDuties([recorder().duty("quick"), busy], { log });
    await duties.follow(true);
    expect(warned).toEqual([{ duty: "busy", term: 1, ms: expect.any(Number) }]);
    expect(warned[0]!.ms).toBeGreaterThanOrEqual(150);
  });
});
