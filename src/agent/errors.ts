import type { OpHookResult } from "../protocol/index.js";

/** The op was cancelled (by the controller or the dashboard): roll back, write `cancelled`. */
export class CancelledError extends Error {
  constructor(message = "cancelled") {
    super(message);
    this.name = "CancelledError";
  }
}

/** The agent is stopping: roll back, leave the op to be retried after the restart. */
export class ShutdownError extends Error {
  constructor() {
    super("agent shutting down");
    this.name = "ShutdownError";
  }
}

/** An archive tried to write outside its staging directory or broke a limit; never retried. */
export class UnsafeArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeArchiveError";
  }
}

/** A refusal that another source cannot fix (bad request, no disk, invalid backend). */
export class OpRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OpRefusedError";
  }
}

export function isAbort(e: unknown): boolean {
  return e instanceof CancelledError || e instanceof ShutdownError;
}

/** Errors that mean "stop now" rather than "try the next mirror". */
export function isFatal(e: unknown): boolean {
  return (
    isAbort(e) ||
    e instanceof UnsafeArchiveError ||
    e instanceof OpRefusedError ||
    e instanceof ProbeFailedError
  );
}

/** Turn whatever an abort signal carried into the error the op should end with. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new CancelledError();
}

/** The new version did not pass its health probe; another mirror of the same build would not either. */
export class ProbeFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProbeFailedError";
  }
}

/** A hook failed under --hook-failure rollback: the change was undone; the op fails carrying the hook's result. */
export class HookFailedError extends Error {
  constructor(
    message: string,
    readonly hook: OpHookResult,
  ) {
    super(message);
    this.name = "HookFailedError";
  }
}

/**
 * A layer that used bytes from the blob cache failed its digest check or its extraction: those
 * bytes were discarded, and the fetch is worth one more try from the registry.
 */
export class StaleCacheError extends Error {
  constructor(
    readonly digest: string,
    cause: unknown,
  ) {
    super(`cached bytes of ${digest} were not valid: discarded`, { cause });
    this.name = "StaleCacheError";
  }
}
