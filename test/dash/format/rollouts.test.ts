import { describe, expect, it } from "vitest";
import { displayWidth } from "../../../src/format/text.js";
import {
  abortEffect,
  BAR_WIDTH,
  budgetUse,
  gateText,
  nodeBar,
  rolloutEndText,
  tallyOf,
  waveText,
} from "../../../src/format/rollouts.js";
import { rolloutDetailLines } from "../../../src/format/rollout-detail.js";
import { NOW, rollout, rolloutNode } from "../helpers/cluster.js";

const tally = (done: number, running: number, failed: number, waiting: number, reverted = 0) => ({
  done,
  running,
  failed,
  waiting,
  reverted,
  skipped: 0,
});

describe("a rollout's node bar", () => {
  it("is always BAR_WIDTH cells, each class present keeps at least one, then done/total", () => {
    for (const t of [
      tally(1, 0, 0, 0),
      tally(0, 0, 0, 5000),
      tally(1, 1, 1, 4997),
      tally(3, 3, 3, 1),
      tally(1, 2, 3, 4, 5),
      tally(10, 0, 0, 0),
    ]) {
      const [bar, count] = nodeBar(t).split(" ");
      expect(displayWidth(bar!), nodeBar(t)).toBe(BAR_WIDTH);
      expect(bar!.includes("▓")).toBe(t.running > 0);
      expect(bar!.includes("✗")).toBe(t.failed > 0);
      expect(bar!.includes("↺")).toBe(t.reverted > 0);
      expect(count).toBe(`${t.done}/${t.done + t.running + t.failed + t.waiting + t.reverted}`);
    }
    expect(nodeBar(tally(5, 0, 0, 5))).toBe("█████░░░░░ 5/10");
  });

  it("counts from the head's counts before the rows arrive", () => {
    const r = rollout({
      counts: { waiting: 2, running: 1, done: 3, failed: 0, skipped: 1, reverted: 0 },
    });
    expect(tallyOf(r, [])).toMatchObject({ done: 3, running: 1, waiting: 2 });
    expect(tallyOf(r, [rolloutNode("a", 0, 0, "ok")])).toMatchObject({ done: 1, running: 0, waiting: 0 });
  });
});

describe("a rollout's gate, budget and abort", () => {
  it("counts the soak down once every node of the wave has ended; a promoted wave skips it", () => {
    const rows = [rolloutNode("a", 0, 0, "ok"), rolloutNode("b", 1, 1, "ok")];
    expect(gateText(rollout({ soakStartedAt: NOW - 45_000 }), rows, NOW)).toBe("soak 15s left of 1m00s");
    expect(gateText(rollout({ promotedWave: 1 }), rows, NOW)).toBe("wave 2 promoted: soak skipped");
    expect(gateText(rollout(), [...rows, rolloutNode("c", 2, 1, "run")], NOW)).toBe(
      "wave 2: 1 node still to finish",
    );
  });

  it("the budget counts failures after the forgiven ones; abort reverts the upgraded and cancels the running", () => {
    const rows = [
      rolloutNode("a", 0, 0, "fail"),
      rolloutNode("b", 1, 1, "cancel"),
      rolloutNode("c", 2, 1, "ok"),
      rolloutNode("d", 3, 1, "run"),
      rolloutNode("e", 4, 2, "wait"),
    ];
    expect(budgetUse(rollout({ forgiven: 1 }), rows)).toEqual({ used: 1, budget: 1, forgiven: 1 });
    expect(
      abortEffect(rollout(), [...rows, rolloutNode("f", 5, 0, "ok", { fromVersion: undefined })]),
    ).toEqual({
      revert: [
        { node: "c", from: "1.1.0", to: "1.0.0" },
        { node: "f", from: "1.1.0", to: "generation g1" },
      ],
      cancel: ["d"],
      waiting: 1,
    });
  });

  it("wave k/n, and how it ended", () => {
    expect(waveText(rollout({ wave: 0 }))).toBe("1/3");
    expect(waveText(rollout({ state: "succeeded", wave: 1 }))).toBe("3/3");
    const end = rolloutEndText(rollout({ state: "failed", reason: "failure budget exceeded" }), [
      rolloutNode("a", 0, 0, "fail"),
    ]);
    expect(end).toEqual({
      level: "err",
      text: "rollout llama-cpp 1.0.0 → 1.1.0 failed: failure budget exceeded",
      history: "1.0.0 → 1.1.0 failed: failure budget exceeded",
    });
  });
});

describe("a rollout's detail lines", () => {
  it("an ended rollout says where it stopped, and that the nodes it never reached are untouched", () => {
    const r = rollout({ state: "aborted", wave: 0, reason: "aborted by bob; 1 node reverted" });
    const lines = rolloutDetailLines(
      r,
      [rolloutNode("a", 0, 0, "reverted"), rolloutNode("b", 1, 1, "wait")],
      new Map(),
      NOW,
    );
    const text = (l: (typeof lines)[number]) =>
      l.kind === "field" ? `${l.label} ${l.text}` : `${l.node} ${l.outcome}`;
    expect(lines.map(text)).toEqual(
      expect.arrayContaining([
        "wave 1 1 node · aborted in it",
        "a ↺ reverted",
        "wave 2 1 node · never started",
        "b untouched",
      ]),
    );
    // Running, the same rows read as the current wave and a node waiting its turn.
    const live = rolloutDetailLines(
      { ...r, state: "running" },
      [rolloutNode("b", 1, 1, "wait")],
      new Map(),
      NOW,
    );
    expect(live.map(text)).toEqual(expect.arrayContaining(["wave 1 0 nodes · current", "b waiting"]));
  });
});
