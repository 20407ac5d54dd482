import { pino, stdTimeFunctions, type Logger as Pino } from "pino";
import pinoPretty from "pino-pretty";

/** A structured logger: fields travel with the message; `child` adds fields to every line. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** `json`: one JSON line per event (time, level, msg, fields); `text`: one readable line. */
  format?: LogFormat;
  /** Where lines go; stderr (fd 2) by default. */
  fd?: number;
}

const isLevel = (s: string | undefined): s is LogLevel => LOG_LEVELS.includes(s as LogLevel);
const isFormat = (s: string | undefined): s is LogFormat => LOG_FORMATS.includes(s as LogFormat);

/**
 * A pino logger on stderr, written synchronously so that the last lines before an exit are not
 * lost. Level and format default to `BACKPLANE_LOG_LEVEL` / `BACKPLANE_LOG_FORMAT`, then info/json.
 */
export function createLogger(base: Record<string, unknown> = {}, o: LoggerOptions = {}): Logger {
  const envLevel = process.env.BACKPLANE_LOG_LEVEL;
  const envFormat = process.env.BACKPLANE_LOG_FORMAT;
  const level = o.level ?? (isLevel(envLevel) ? envLevel : "info");
  const format = o.format ?? (isFormat(envFormat) ? envFormat : "json");
  const fd = o.fd ?? 2;
  const destination =
    format === "text"
      ? pinoPretty({
          destination: fd,
          sync: true,
          translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
          ignore: "pid,hostname",
          singleLine: true,
          colorize: fd === 2 && process.stderr.isTTY === true && !process.env.NO_COLOR,
        })
      : pino.destination({ fd, sync: true });
  return wrap(
    pino(
      {
        level,
        base,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      destination,
    ),
  );
}

function wrap(p: Pino): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => wrap(p.child(fields)),
  };
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
