import { silentLogger, type Logger } from "./log.js";

/**
 * What a component reports through: its logger, and (a role's extension of this type, such as the
 * controller's) its metrics. One object is injected into every constructor so that adding a
 * channel changes this type, not every constructor.
 */
export interface Telemetry {
  readonly log: Logger;
}

export const silentTelemetry: Telemetry = { log: silentLogger };

export function telemetryOf(log: Logger): Telemetry {
  return { log };
}

/** The same telemetry (metrics included) with `fields` on every log line. */
export function withFields<T extends Telemetry>(t: T, fields: Record<string, unknown>): T {
  return { ...t, log: t.log.child(fields) };
}
