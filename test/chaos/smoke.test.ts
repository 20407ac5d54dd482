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
    "nats-server kill -9 and restart: no record lost, every op succeeds, every role back",
    { timeout: 90_000 },
    async () => {
      const r = await natsRestart.run({ smoke: true });
      expect(broken(totals([r])), JSON.stringify(r, null, 2)).toEqual([]);
      const [done, all] = String(r.rows.find(([k]) => k === "ops succeeded")?.[1]).split("/");
      expect(Number(all)).toBeGreaterThan(0);
      expect(done).toBe(all);
      for (const role of ["agents", "controller API", "controller loops", "dashboard"]) {
        expect(r.rows.find(([k]) => k === `reconnect: ${role}`)?.[1], role).not.toBe("–");
      }
    },
  );
});
