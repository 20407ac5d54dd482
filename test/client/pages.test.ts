import { describe, expect, it } from "vitest";
import { collectPages } from "../../src/client/pages.js";
import { takePage } from "../../src/protocol/index.js";

describe("collectPages", () => {
  type Reply = { items: string[]; next?: string; total: number };
  const serve = (all: string[], limit: number) => {
    const asked: Array<string | undefined> = [];
    const fetch = async (after: string | undefined): Promise<Reply> => {
      asked.push(after);
      const p = takePage(all, (k) => k, { after, limit });
      return { items: p.rows, total: p.total, ...(p.next === undefined ? {} : { next: p.next }) };
    };
    return { fetch, asked };
  };
  const merge = (a: Reply, p: Reply): Reply => ({ items: [...a.items, ...p.items], total: p.total });

  it("follows next until a page has none and returns one reply without next", async () => {
    const s = serve(["d", "a", "c", "b", "e"], 2);
    expect(await collectPages(s.fetch, merge)).toEqual({ items: ["a", "b", "c", "d", "e"], total: 5 });
    expect(s.asked).toEqual([undefined, "b", "d"]);
  });

  it("asks once for a list that fits one page", async () => {
    const s = serve(["a"], 2);
    expect(await collectPages(s.fetch, merge)).toEqual({ items: ["a"], total: 1 });
    expect(s.asked).toEqual([undefined]);
  });

  it("refuses a server whose cursor does not move forward (it would loop forever)", async () => {
    const stuck = async (): Promise<Reply> => ({ items: ["a"], next: "a", total: 2 });
    await expect(collectPages(stuck, merge)).rejects.toThrow(/went backwards/);
  });
});
