import { describe, expect, it } from "vitest";
import { agentKill } from "../../chaos/scenarios/agent-kill.js";
import { natsRestart } from "../../chaos/scenarios/nats-restart.js";
import { broken, totals } from "../../chaos/lib/outcome.js";

// The short version of `make chaos` (chaos/run.ts --smoke): one round of each, with the invariants.
describe("chaos smoke (one round of agent-kill and nats-restart against real processes)", () => {
  it("agent kill -9 mid-download: no half state, the op ends, no debris", { timeout: 90_000 }, async () => {
    const r = await agentKill.run({ smoke: true });
    expect(r.rows.find(([k]) => k === "kills")?.[1]).toMatch(/^1 /);
    expect(broken(totals([r])), JSON.stringify(r, null, 2)).toEqual([]);
    expect(r.rows.find(([k]) => k === "debris")?.[1]).toBe("0 in 1 finished ops");
  });

  it(
    "nats-server kill -9 and restart: no record lost, every op ends, every role back",
    { timeout: 90_000 },
    async () => {
      const r = await natsRestart.run({ smoke: true });
      expect(broken(totals([r])), JSON.stringify(r, null, 2)).toEqual([]);
      // Every op ended (none stuck: the invariants above); that each also succeeded is make chaos's
      // figure, not asserted here: about one op in thirty fails "timeout" after a restart
      // (docs/reliability.md), which would make this test flaky.
      expect(r.rows.find(([k]) => k === "records lost")?.[1]).toMatch(/^0 of [1-9]/);
      expect(r.rows.find(([k]) => k === "ops stuck")?.[1]).toBe(0);
      expect(r.rows.find(([k]) => k === "ops succeeded")?.[1]).toMatch(/^\d+\/[1-9]/);
      for (const role of ["agents", "controller API", "controller loops", "dashboard"]) {
        expect(r.rows.find(([k]) => k === `reconnect: ${role}`)?.[1], role).not.toBe("–");
      }
    },
  );
});
