import { describe, expect, it } from "vitest";
import { rerunWhileBusy } from "../../src/lib/rerun.js";

/** A run that finishes when the test says so, counting how many are under way at once. */
function controlledRuns() {
  const finish: Array<() => void> = [];
  let active = 0;
  let most = 0;
  let runs = 0;
  const run = async () => {
    const n = ++runs;
    most = Math.max(most, ++active);
    await new Promise<void>((r) => finish.push(r));
    active--;
    return n;
  };
  return { run, finish, stats: () => ({ runs, most }) };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe("rerunWhileBusy", () => {
  it("folds calls made during a run into one more run, which every caller gets", async () => {
    const c = controlledRuns();
    const go = rerunWhileBusy(c.run);
    const first = go();
    const [second, third] = [go(), go()];
    c.finish.shift()!();
    await turn();
    c.finish.shift()!();
    expect(await Promise.all([first, second, third])).toEqual([2, 2, 2]);
    expect(c.stats()).toEqual({ runs: 2, most: 1 });
  });

  it("never runs twice at once, even when a caller calls again as soon as its run ends", async () => {
    const c = controlledRuns();
    const go = rerunWhileBusy(c.run);
    const first = go();
    const again = first.then(() => go());
    c.finish.shift()!();
    await first;
    await turn();
    c.finish.shift()!();
    expect(await again).toBe(2);
    expect(c.stats()).toEqual({ runs: 2, most: 1 });
  });
});
