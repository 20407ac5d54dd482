import type { Logger } from "../../src/lib/log.js";

/** A logger that keeps every line (base fields, fields, level, msg) for a test to read. */
export function captureLog(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const make = (base: Record<string, unknown>): Logger => {
    const at =
      (level: string) =>
      (msg: string, fields: Record<string, unknown> = {}) =>
        void lines.push({ ...base, ...fields, level, msg });
    return {
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
      child: (f) => make({ ...base, ...f }),
    };
  };
  return { logger: make({}), lines };
}
