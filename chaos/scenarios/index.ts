import type { Scenario } from "../lib/outcome.js";
import { agentKill } from "./agent-kill.js";
import { controllerStall } from "./controller-stall.js";
import { leaderKill } from "./leader-kill.js";
import { natsRestart } from "./nats-restart.js";
import { registryFaults } from "./registry.js";
import { serverLoss } from "./server-loss.js";

/** Every scenario, in the order `make chaos` runs them. */
export const SCENARIOS: readonly Scenario[] = [
  agentKill,
  leaderKill,
  natsRestart,
  serverLoss,
  controllerStall,
  registryFaults,
];

/** What `make test` runs (test/chaos/smoke.test.ts): one short round of each. */
export const SMOKE = ["agent-kill", "nats-restart"] as const;
