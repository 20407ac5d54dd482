import { describe, expect, it } from "vitest";
import { controllerLiveness } from "../../../src/format/liveness.js";
import { nodeStatusText, opStateText, statusText } from "../../../src/format/status.js";
import { truncate } from "../../../src/format/text.js";
import type { NodeStatus, OpState } from "../../../src/protocol/index.js";
import { nodeStatusLook } from "../../../src/theme/symbols.js";

/** What `text` makes of every key of `expected`, keyed the same way. */
function textsOf<K extends string>(expected: Record<K, string>, text: (k: K) => string): Record<K, string> {
  const keys = Object.keys(expected) as K[];
  return Object.fromEntries(keys.map((k) => [k, text(k)])) as Record<K, string>;
}

describe("status text", () => {
  it("puts the glyph before the word, and the word can be replaced", () => {
    const look = { glyph: "✓", word: "healthy", tone: "ok" } as const;
    expect(statusText(look)).toEqual({ text: "✓ healthy", tone: "ok" });
    expect(statusText(look, "fine")).toEqual({ text: "✓ fine", tone: "ok" });
  });

  it("gives every node status a glyph and a word, and a missing one reads unknown", () => {
    const all: Record<NodeStatus, string> = {
      healthy: "✓ healthy",
      unhealthy: "! unhealthy",
      offline: "✗ offline",
      draining: "↓ draining",
      pending: "? pending",
    };
    expect(textsOf(all, (s) => nodeStatusText(s).text)).toEqual(all);
    expect(nodeStatusText("offline").tone).toBe("err");
    expect(nodeStatusText(undefined)).toEqual({ text: "? unknown", tone: "muted" });
  });

  it("gives every op state a glyph and a word", () => {
    const all: Record<OpState, string> = {
      queued: "○ queued",
      running: "▶ running",
      cancelling: "⊘ cancelling",
      succeeded: "✓ done",
      failed: "✗ failed",
      cancelled: "⊘ cancelled",
    };
    expect(textsOf(all, (s) => opStateText(s).text)).toEqual(all);
    expect(opStateText("failed").tone).toBe("err");
  });

  it("uses no glyph that reads as cut text (the ellipsis truncate appends)", () => {
    const states: OpState[] = ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"];
    for (const s of states) expect(opStateText(s).text, s).not.toContain(truncate("xx", 1));
    for (const s of Object.keys(nodeStatusLook) as NodeStatus[])
      expect(nodeStatusText(s).text, s).not.toContain("…");
  });

  it("names the phase of a running op, and only of a running op", () => {
    expect(opStateText("running", "downloading")).toEqual({ text: "▶ download", tone: "accent" });
    expect(opStateText("running", "activating").text).toBe("▶ activate");
    expect(opStateText("failed", "downloading").text).toBe("✗ failed");
    expect(opStateText("queued", "resolving").text).toBe("○ queued");
  });
});

describe("controller liveness", () => {
  const TTL = 10_000;
  const NOW = 1_000_000;
  it("names the leader and how long since it renewed or answered", () => {
    const l = controllerLiveness({ leader: "ctl-a", seenAt: NOW - 3_000 }, TTL, NOW - 60_000, NOW);
    expect(l).toEqual({ text: "leader ctl-a 3s", tone: undefined, detail: "" });
    expect(controllerLiveness({ leader: null, seenAt: NOW - 1_000 }, TTL, null, NOW).text).toBe(
      "controller 1s",
    );
  });
  it("says in words when nothing renewed or answered for longer than the lease", () => {
    const l = controllerLiveness({ leader: "ctl-a", seenAt: NOW - 75_000 }, TTL, NOW - 80_000, NOW);
    expect(l.text).toBe("✗ no controller for 1m15s");
    expect(l.tone).toBe("err");
    expect(l.detail).toMatch(
      /^no controller has renewed its lease or answered for 1m15s \(last leader ctl-a\)/,
    );
  });
  it("counts from when the dashboard started listening when it never heard one", () => {
    expect(controllerLiveness({ leader: null, seenAt: null }, TTL, NOW - 5_000, NOW).text).toBe(
      "controller ?",
    );
    expect(controllerLiveness({ leader: null, seenAt: null }, TTL, NOW - 20_000, NOW).text).toBe(
      "✗ no controller for 20s",
    );
    expect(controllerLiveness({ leader: null, seenAt: null }, TTL, null, NOW).detail).toBe("");
  });
});
