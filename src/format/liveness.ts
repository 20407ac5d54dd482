import type { Tone } from "../theme/tokens.js";
import { age } from "./units.js";

/** The controller as the dashboard last heard it (store `controller`). */
export interface ControllerSeen {
  leader: string | null;
  seenAt: number | null;
}

export interface Liveness {
  /** Short, for the header: `leader ctl-1 3s` or `✗ no controller for 1m15s`. */
  text: string;
  tone: Tone | undefined;
  /** A sentence for the status line when there is something to worry about; "" otherwise. */
  detail: string;
}

/**
 * Whether a controller is alive, in words: the leader and how long since it renewed its lease or
 * answered; past the lease TTL of silence, "no controller for …" (never colour alone). `waitingSince`
 * is when the dashboard started listening, for a cluster whose controller was never heard.
 */
export function controllerLiveness(
  c: ControllerSeen,
  leaseTtlMs: number,
  waitingSince: number | null,
  now: number,
): Liveness {
  const since = c.seenAt ?? waitingSince;
  if (since === null || now - since <= leaseTtlMs) {
    if (c.seenAt === null) return { text: "controller ?", tone: "muted", detail: "" };
    const who = c.leader === null ? "controller" : `leader ${c.leader}`;
    return { text: `${who} ${age(c.seenAt, now)}`, tone: undefined, detail: "" };
  }
  const silent = age(since, now);
  const last = c.leader === null ? "" : ` (last leader ${c.leader})`;
  return {
    text: `✗ no controller for ${silent}`,
    tone: "err",
    detail:
      `no controller has renewed its lease or answered for ${silent}${last}: ` +
      "commands are not confirmed and node states are not updated",
  };
}
