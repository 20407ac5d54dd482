import { describe, expect, it } from "vitest";
import { runBackplane } from "../harness/backplane.js";

describe("backplane dash outside a terminal", () => {
  it("exits 2 and suggests commands that exist", async () => {
    const r = await runBackplane(["dash", "--server", "nats://127.0.0.1:1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs an interactive terminal/);
    const suggested = [...r.stderr.matchAll(/`backplane ([^`]+)`/g)].map((m) => m[1]!.split(" "));
    expect(suggested.length).toBeGreaterThanOrEqual(2);
    for (const words of suggested) {
      // Against a dead server a real command fails to connect (1), a made-up one is a usage error (2).
      const r = await runBackplane([...words, "--server", "nats://127.0.0.1:1", "--connect-timeout", "1"]);
      expect(r.code, `backplane ${words.join(" ")}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/cannot reach NATS/);
    }
  });
});
