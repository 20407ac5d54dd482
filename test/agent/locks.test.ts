import { describe, expect, it } from "vitest";
import { CancelledError } from "../../src/agent/errors.js";
import { NameLocks, Slots } from "../../src/agent/locks.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("per-name locks", () => {
  it("serialises ops sharing a name in arrival order and lets other names through", async () => {
    const locks = new NameLocks();
    const order: string[] = [];
    const r1 = await locks.acquire(["llama"]);
    const p2 = locks.acquire(["llama-meta", "llama"]).then((r) => (order.push("meta"), r));
    const p3 = locks.acquire(["whisper"]).then((r) => (order.push("whisper"), r));
    const p4 = locks.acquire(["llama-meta"]).then((r) => (order.push("meta-only"), r));
    await tick();
    expect(order).toEqual(["whisper"]);
    r1();
    const r2 = await p2;
    await tick();
    expect(order).toEqual(["whisper", "meta"]);
    r2();
    (await p4)();
    (await p3)();
    expect(order).toEqual(["whisper", "meta", "meta-only"]);
    expect(locks.locked).toEqual([]);
  });

  it("keeps an op's place while its names are still being looked up", async () => {
    const locks = new NameLocks();
    const order: string[] = [];
    let names!: (n: string[]) => void;
    const slow = locks
      .acquire(new Promise<string[]>((r) => (names = r)))
      .then((r) => (order.push("slow"), r));
    const fast = locks.acquire(["llama"]).then((r) => (order.push("fast"), r));
    await tick();
    expect(order).toEqual([]); // the fast one may share a name with the slow one: it waits
    names(["llama-meta", "llama"]);
    const r1 = await slow;
    await tick();
    expect(order).toEqual(["slow"]);
    r1();
    (await fast)();
    expect(order).toEqual(["slow", "fast"]);

    // A lookup that fails, or a cancel while it runs, gives the place up.
    const failed = locks.acquire(Promise.reject(new Error("no such backend")));
    const ac = new AbortController();
    const cancelled = locks.acquire(new Promise<string[]>(() => {}), ac.signal);
    const after = locks.acquire(["llama"]);
    await expect(failed).rejects.toThrow("no such backend");
    ac.abort(new CancelledError());
    await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
    (await after)();
    expect(locks.locked).toEqual([]);
  });

  it("a waiter can be cancelled and does not block those behind it", async () => {
    const locks = new NameLocks();
    const r1 = await locks.acquire(["a"]);
    const ac = new AbortController();
    const p2 = locks.acquire(["a", "b"], ac.signal);
    const p3 = locks.acquire(["b"]);
    ac.abort(new CancelledError());
    await expect(p2).rejects.toBeInstanceOf(CancelledError);
    (await p3)();
    r1();
  });
});

describe("parallel slots", () => {
  it("lets at most N run and starts the next when one ends", async () => {
    const slots = new Slots(2);
    const a = await slots.acquire();
    const b = await slots.acquire();
    let started = false;
    const c = slots.acquire().then((r) => ((started = true), r));
    await tick();
    expect(started).toBe(false);
    expect(slots.inUse).toBe(2);
    a();
    a(); // releasing twice is harmless
    (await c)();
    b();
    expect(slots.inUse).toBe(0);
  });
});
