import { describe, expect, it } from "vitest";
import { SingleFlight } from "../../src/lib/single-flight.js";

/** Runs that finish when the test says so, recording their arguments and how many overlap. */
function controlledRuns() {
  const finish: Array<(fail?: Error) => void> = [];
  const args: string[] = [];
  let active = 0;
  let most = 0;
  const run = async (arg: string) => {
    args.push(arg);
    most = Math.max(most, ++active);
    try {
      await new Promise<void>((resolve, reject) => finish.push((e) => (e ? reject(e) : resolve())));
      return `${arg}#${args.length}`;
    } finally {
      active--;
    }
  };
  return { run, finish, args, most: () => most };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe("SingleFlight.run", () => {
  it("gives concurrent callers one shared run, with the first caller's arguments", async () => {
    const c = controlledRuns();
    const f = new SingleFlight(c.run);
    const a = f.run("a");
    const b = f.run("b");
    expect(b).toBe(a);
    expect(f.inFlight).toBe(a);
    c.finish.shift()!();
    expect(await Promise.all([a, b])).toEqual(["a#1", "a#1"]);
    expect(c.args).toEqual(["a"]);
    expect(f.inFlight).toBeUndefined();
  });

  it("starts a new run once the last one settled, also after a failure", async () => {
    const c = controlledRuns();
    const f = new SingleFlight(c.run);
    const a = f.run("a");
    c.finish.shift()!(new Error("boom"));
    await expect(a).rejects.toThrow("boom");
    const b = f.run("b");
    expect(b).not.toBe(a);
    c.finish.shift()!();
    expect(await b).toBe("b#2");
  });

  it("turns a synchronous throw into a rejection and stays usable", async () => {
    let calls = 0;
    const f = new SingleFlight(() => {
      if (++calls === 1) throw new Error("sync");
      return Promise.resolve(calls);
    });
    await expect(f.run()).rejects.toThrow("sync");
    expect(await f.run()).toBe(2);
  });
});

describe("SingleFlight.runFresh", () => {
  it("runs at once when idle", async () => {
    const c = controlledRuns();
    const f = new SingleFlight(c.run);
    const a = f.runFresh("a");
    await settle();
    expect(c.args).toEqual(["a"]);
    c.finish.shift()!();
    expect(await a).toBe("a#1");
  });

  it("folds callers during a run into one run after it, never two at once", async () => {
    const c = controlledRuns();
    const f = new SingleFlight(c.run);
    const first = f.run("first");
    const b = f.runFresh("b");
    const x = f.runFresh("x");
    expect(x).toBe(b);
    await settle();
    expect(c.args).toEqual(["first"]);
    c.finish.shift()!(new Error("first failed"));
    await expect(first).rejects.toThrow("first failed");
    await settle();
    expect(c.args).toEqual(["first", "b"]);
    c.finish.shift()!();
    expect(await Promise.all([b, x])).toEqual(["b#2", "b#2"]);
    expect(c.most()).toBe(1);
  });
});
