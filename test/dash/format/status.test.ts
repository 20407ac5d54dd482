import { describe, expect, it } from "vitest";
import { nodeStatusText, opStateText, statusText } from "../../../src/format/status.js";
import type { NodeStatus, OpState } from "../../../src/protocol/index.js";

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
    for (const [status, text] of Object.entries(all)) {
      expect(nodeStatusText(status as NodeStatus).text).toBe(text);
    }
    expect(nodeStatusText("offline").tone).toBe("err");
    expect(nodeStatusText(undefined)).toEqual({ text: "? unknown", tone: "muted" });
  });

  it("gives every op state a glyph and a word", () => {
    const all: Record<OpState, string> = {
      queued: "… queued",
      running: "▶ running",
      cancelling: "⊘ cancelling",
      succeeded: "✓ done",
      failed: "✗ failed",
      cancelled: "⊘ cancelled",
    };
    for (const [state, text] of Object.entries(all)) {
      expect(opStateText(state as OpState).text).toBe(text);
    }
    expect(opStateText("failed").tone).toBe("err");
  });

  it("names the phase of a running op, and only of a running op", () => {
    expect(opStateText("running", "downloading")).toEqual({ text: "▶ download", tone: "accent" });
    expect(opStateText("running", "activating").text).toBe("▶ activate");
    expect(opStateText("failed", "downloading").text).toBe("✗ failed");
    expect(opStateText("queued", "resolving").text).toBe("… queued");
  });
});
