import { describe, expect, it } from "vitest";
import { humanMs, nearest, parse, parseDuration } from "../../src/cli/args.js";
import { runBackplane } from "../harness/backplane.js";

describe("flag parsing", () => {
  it("suggests the nearest flag for a typo", () => {
    const flags = { node: { type: "string" }, all: { type: "boolean" }, wait: { type: "boolean" } } as const;
    expect(() => parse(["--nodee", "x"], flags)).toThrow("unknown flag --nodee (did you mean --node?)");
    expect(() => parse(["--wiat"], flags)).toThrow("did you mean --wait?");
    expect(() => parse(["--frobnicate"], flags)).toThrow(/^unknown flag --frobnicate$/);
    expect(() => parse(["--node"], flags)).toThrow("--node needs a value");
    expect(nearest("lst", ["list", "watch", "cancel"])).toBe("list");
  });

  it("reads a bare number as seconds and states minimums in human units", () => {
    expect(parseDuration("10", "timeout")).toBe(10_000);
    expect(parseDuration("250ms", "timeout")).toBe(250);
    expect(() => parseDuration("30", "check-interval", 60_000)).toThrow(
      "--check-interval must be at least 1m",
    );
    expect([humanMs(86_400_000), humanMs(5_400_000), humanMs(90_000), humanMs(1500)]).toEqual([
      "1d",
      "90m",
      "90s",
      "1500ms",
    ]);
  });

  it("the binary says 'did you mean' for flags and commands, exit 2, before connecting", async () => {
    const flag = await runBackplane(["backends", "install", "piper", "--nodee", "gpu-01"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown flag --nodee (did you mean --node?)");
    const sub = await runBackplane(["ops", "lst"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("(did you mean 'ops list'?)");
    // A bad value is refused at once, with no server to reach.
    const interval = await runBackplane([
      "settings",
      "set",
      "--check-interval",
      "30s",
      "--server",
      "nats://127.0.0.1:1",
    ]);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toContain("--check-interval must be at least 1m");
  });
});
