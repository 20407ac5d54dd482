import { afterEach, describe, expect, it } from "vitest";
import { feed, NOW, op, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

describe("Operations keeps finished ops", () => {
  it("an op that ended while the view is open stays, with its finish time, until the operator leaves; f shows all", async () => {
    const r = renderDash({ columns: 100, rows: 24, stack: [{ id: "nodes" }, { id: "ops" }] });
    // Operations has been open for a minute; the op ended 30 s ago, past the 10 s linger.
    r.store.setState((s) => ({ opsKeep: { ...s.opsKeep, since: NOW - 60_000 } }));
    const done = op("gpu-01", {
      id: "op-done",
      backend: "piper",
      state: "succeeded",
      createdAt: NOW - 100_000,
      startedAt: NOW - 95_000,
      finishedAt: NOW - 30_000,
    });
    feed(r.store, { ...smallCluster(), ops: [done] });
    let f = await r.waitForFrame("install piper @gpu-01");
    expect(f).toMatch(/install piper @gpu-01.*finished \d\d:\d\d:\d\d, took 1m05s/);
    expect(f).toContain("f: show all");

    // Into its detail and back: still the same visit.
    await r.press("enter");
    await r.waitForFrame("Operations › install piper @gpu-01");
    await r.press("esc");
    await r.waitForFrame("install piper @gpu-01");

    // Leaving the view ends the visit; on return only what ends from now on is kept.
    await r.press("esc");
    await r.waitForFrame("Nodes [");
    await r.press("3");
    f = await r.waitForFrame("Operations [");
    expect(f).not.toContain("install piper");
    expect(f).toContain("f shows finished ones");

    await r.press("f");
    f = await r.waitForFrame("install piper @gpu-01");
    expect(f).toContain("showing all (f: active only)");
    await r.press("f");
    await r.waitForFrame((x) => !x.includes("install piper"), "active only again");
  });
});
