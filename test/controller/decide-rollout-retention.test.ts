import { describe, expect, it } from "vitest";
import { planRetention, type RetentionRow } from "../../src/controller/decide/rollout-retention.js";
import { DEFAULT_STRATEGY, type Rollout, type RolloutState } from "../../src/protocol/index.js";
import { T0 } from "./facts.js";

const DAY = 24 * 3600_000;
const rules = { keepEnded: 2, keepMs: 7 * DAY, orphanAfterMs: 3600_000 };

function ro(id: string, state: RolloutState, endedDaysAgo: number | undefined, dismissed = false): Rollout {
  const endedAt = endedDaysAgo === undefined ? undefined : T0 - endedDaysAgo * DAY;
  return {
    v: 1,
    id: `ro-${id}-0000`,
    backend: "foo",
    builds: {},
    byCapability: {},
    targeting: { kind: "installed" },
    total: 1,
    eligible: 1,
    waves: [1],
    strategy: DEFAULT_STRATEGY,
    state,
    wave: 0,
    forgiven: 0,
    pauses: [],
    actions: [],
    dismissed,
    createdAt: T0 - 30 * DAY,
    createdBy: "alice",
    updatedAt: endedAt ?? T0,
    endedAt,
  };
}
const rowsOf = (...ids: string[]): RetentionRow[] =>
  ids.flatMap((id) => [
    { key: `ro-${id}-0000.n1`, rollout: `ro-${id}-0000`, at: T0 - 30 * DAY },
    { key: `ro-${id}-0000.n2`, rollout: `ro-${id}-0000`, at: T0 - 30 * DAY },
  ]);

describe("planRetention", () => {
  it.each<[string, Rollout[], string[]]>([
    ["nothing ended", [ro("a", "running", undefined), ro("b", "paused", undefined)], []],
    // Keeps the newest 2 removable ones whatever their age, and any ended within 7 days.
    [
      "beyond the newest two, only those older than 7 days go, oldest first",
      [
        ro("a", "succeeded", 30),
        ro("b", "succeeded", 20),
        ro("c", "succeeded", 10),
        ro("d", "succeeded", 9),
        ro("e", "succeeded", 8),
      ],
      ["ro-a-0000", "ro-b-0000", "ro-c-0000"],
    ],
    [
      "recent ones stay even beyond the count",
      [ro("a", "succeeded", 1), ro("b", "succeeded", 2), ro("c", "succeeded", 3), ro("d", "succeeded", 6)],
      [],
    ],
    [
      "a failed or aborted one stays until dismissed; an active one always stays",
      [
        ro("a", "aborted", 30),
        ro("b", "failed", 30),
        ro("c", "aborted", 30, true),
        ro("d", "failed", 29, true),
        ro("e", "running", undefined),
        ro("f", "succeeded", 1),
        ro("g", "succeeded", 2),
      ],
      ["ro-c-0000", "ro-d-0000"],
    ],
  ])("%s", (_, heads, gone) => {
    const p = planRetention(heads, rowsOf(...heads.map((h) => h.id.split("-")[1]!)), T0, rules);
    expect(p.heads).toEqual(gone);
    // Their rows go with them, and no other row.
    expect(p.rows).toEqual(gone.flatMap((id) => [`${id}.n1`, `${id}.n2`]));
  });

  it("removes rows whose head is gone once they are an hour old", () => {
    const rows: RetentionRow[] = [
      { key: "ro-x-0000.n1", rollout: "ro-x-0000", at: T0 - 2 * 3600_000 },
      // A start in progress writes rows before its head.
      { key: "ro-y-0000.n1", rollout: "ro-y-0000", at: T0 - 1000 },
    ];
    expect(planRetention([], rows, T0, rules)).toEqual({ heads: [], rows: ["ro-x-0000.n1"] });
  });

  it("by default keeps 50 and 7 days", () => {
    const heads = Array.from({ length: 60 }, (_, i) => ro(`r${i}`, "succeeded", 8 + i));
    const p = planRetention(heads, [], T0);
    expect(p.heads).toHaveLength(10);
    expect(p.heads[0]).toBe("ro-r59-0000");
  });
});
