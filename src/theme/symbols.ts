import type { NodeStatus, OpState, Phase } from "../protocol/index.js";
import type { Tone } from "./tokens.js";

/** Glyph + word + tone for each state: readable with no colour (NO_COLOR, 16-colour terminals). */
export interface StatusLook {
  glyph: string;
  word: string;
  tone: Tone;
}

export const nodeStatusLook: Record<NodeStatus, StatusLook> = {
  healthy: { glyph: "✓", word: "healthy", tone: "ok" },
  unhealthy: { glyph: "!", word: "unhealthy", tone: "warn" },
  offline: { glyph: "✗", word: "offline", tone: "err" },
  draining: { glyph: "↓", word: "draining", tone: "warn" },
  pending: { glyph: "?", word: "pending", tone: "info" },
};

/**
 * A node the dashboard has not heard from for longer than the offline threshold, whatever its
 * record says (the controller that would mark it offline may itself be down).
 */
export const STALE_NODE_LOOK: StatusLook = { glyph: "✗", word: "stale", tone: "err" };

/** A node whose record does not validate (a buggy writer, a manual `nats kv put`): listed, not hidden. */
export const UNREADABLE_NODE_LOOK: StatusLook = { glyph: "?", word: "unreadable", tone: "err" };

export const opStateLook: Record<OpState, StatusLook> = {
  // Not `…`: that is the mark of cut text, and "…2" in a fan-out row read as a cut cell.
  queued: { glyph: "○", word: "queued", tone: "muted" },
  running: { glyph: "▶", word: "running", tone: "accent" },
  cancelling: { glyph: "⊘", word: "cancelling", tone: "warn" },
  succeeded: { glyph: "✓", word: "done", tone: "ok" },
  failed: { glyph: "✗", word: "failed", tone: "err" },
  cancelled: { glyph: "⊘", word: "cancelled", tone: "muted" },
};

export const phaseWord: Record<Phase, string> = {
  resolving: "resolve",
  downloading: "download",
  verifying: "verify",
  extracting: "extract",
  probing: "probe",
  activating: "activate",
};

export const UPGRADE_BADGE = "↑";
export const DRIFT_MARK = "≠";
/** A node held (for this backend or all): rollouts and auto-upgrade skip it. */
export const HELD_MARK = "⏸";
/** A backend pinned to a version on this node. */
export const PINNED_MARK = "⊤";
export const DEV_MARK = "dev";
export const SELECTED_MARK = "›";
export const MARKED = "[x]";
export const UNMARKED = "[ ]";
