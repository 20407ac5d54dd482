import { silentLogger, type Logger } from "./log.js";

/**
 * What a component reports through: its logger today, metrics next. One object is injected into
 * every constructor so that adding a channel changes this type, not every constructor.
 */
export interface Telemetry {
  readonly log: Logger;
}

export const silentTelemetry: Telemetry = { log: silentLogger };

export function telemetryOf(log: Logger): Telemetry {
  return { log };
}

/** The same telemetry with `fields` on every log line. */
export function withFields(t: Telemetry, fields: Record<string, unknown>): Telemetry {
  return { ...t, log: t.log.child(fields) };
}
