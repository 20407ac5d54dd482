import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"],
    // Ink draws nothing but the last frame when CI is set (is-in-ci, read when Ink is imported);
    // the dashboard tests render as on an operator's terminal, whatever the runner exports.
    env: { CI: "false", CONTINUOUS_INTEGRATION: "false" },
  },
});
