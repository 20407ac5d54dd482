import { afterEach, describe, expect, it } from "vitest";
import { audit, feed, NOW, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const event = (i: number) =>
  audit("node.status", NOW - 1_000_000 + i * 1000, {
    nodeId: `n-${String(i).padStart(2, "0")}`,
    message: `ev ${i}`,
  });

describe("History is live", () => {
  it("new events appear on top while following; f holds the rows on screen, f again follows", async () => {
    const api = fakeApi({
      "ops.history": () => ({ events: Array.from({ length: 40 }, (_, i) => event(i)).reverse() }),
    });
    const r = renderDash({ api, columns: 100, rows: 24, stack: [{ id: "history" }] });
    feed(r.store, smallCluster());
    let f = await r.waitForFrame("n-39");
    expect(f).toContain("following (f holds)");

    r.store.getState().actions.addHistoryEvents([event(50)]);
    f = await r.waitForFrame("n-50", "the live event on top");
    expect(f.indexOf("n-50")).toBeLessThan(f.indexOf("n-39"));

    // Held: scrolled a little, the same rows stay on screen when more arrive.
    await r.press("f", "j", "j");
    f = await r.waitForFrame("held (f follows)");
    const top = /│ (n-\d\d) /.exec(f)?.[1];
    expect(top).toBe("n-38");
    r.store.getState().actions.addHistoryEvents([event(51), event(52)]);
    await r.waitForFrame(/\[\d+\/43\]|of 43|43\]/, "the two new events counted");
    f = r.lastFrame();
    expect(/│ (n-\d\d) /.exec(f)?.[1]).toBe("n-38");
    expect(f).not.toContain("n-52");

    // Following again: back on top, with the newest.
    await r.press("f");
    f = await r.waitForFrame("n-52");
    expect(/│ (n-\d\d) /.exec(f)?.[1]).toBe("n-52");
  });
});
