import { describe, expect, it } from "vitest";
import { Limiter, LimiterFullError } from "../../src/lib/limiter.js";

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe("Limiter", () => {
  it("runs at most `limit` at once, the rest in arrival order, and refuses beyond the queue", async () => {
    const l = new Limiter(2, 2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      l.run(async () => {
        started.push(i);
        await g.p;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(l.queued).toBe(2);
    await expect(l.run(async () => 9)).rejects.toBeInstanceOf(LimiterFullError);
    gates[1]!.open();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect(l.inFlight).toBe(0);
    expect(await l.run(async () => 5)).toBe(5);
  });

  it("a call that throws gives its slot back", async () => {
    const l = new Limiter(1, 0);
    await expect(l.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await l.run(async () => 1)).toBe(1);
  });
});
