import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Most files wait on child processes (nats-server, docker-registry, agents, the controller
    // binary, tmux), not on the CPU: one file at a time (vitest's default on 2 cores) took 12 min.
    maxWorkers: 3,
    reporters: ["default"],
    // Ink draws nothing but the last frame when CI is set (is-in-ci, read when Ink is imported);
    // the dashboard tests render as on an operator's terminal, whatever the runner exports.
    env: { CI: "false", CONTINUOUS_INTEGRATION: "false" },
  },
});
