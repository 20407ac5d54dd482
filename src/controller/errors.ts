import { ContentionError } from "../client/index.js";
import type { ApiErrorCode } from "../protocol/index.js";

/** An error a handler means to show the caller: a code that maps to an HTTP status, and the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const notFound = (message: string, field?: string) => new ApiError("not_found", message, field);
export const conflict = (message: string, field?: string) => new ApiError("conflict", message, field);
export const badRequest = (message: string, field?: string) => new ApiError("bad_request", message, field);

/** `modify` gave up on a record other writers kept changing: an error the caller may retry. */
export function unavailableWhenContended(what: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof ContentionError) throw new ApiError("unavailable", `${what} keeps changing; try again`);
    throw e;
  };
}
