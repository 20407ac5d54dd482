import { seconds } from "../lib/human.js";

/** Retry-After asked for a longer wait than the cap, or the waits used up their budget. */
export class RetryBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RetryBudgetError";
  }
}

/** How long waits asked by Retry-After may be: each, and all of one download or request together. */
export interface RetryAfterLimits {
  capMs: number;
  budgetMs: number;
}

export const DEFAULT_RETRY_AFTER: RetryAfterLimits = { capMs: 60_000, budgetMs: 180_000 };

/**
 * The wait a `Retry-After` asks for, in ms (delta-seconds or an HTTP date); undefined when absent
 * or unreadable. A date in the past is no wait.
 */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * What a 429 or 503 answer's `Retry-After` asks for, in ms; undefined for any other status, or
 * when the header is absent or unreadable. The one reading of it for manifests, blobs and tarballs.
 */
export function retryAfterOf(status: number, header: string | null | undefined): number | undefined {
  return status === 429 || status === 503 ? parseRetryAfter(header) : undefined;
}

/**
 * Keeps the total of Retry-After waits within limits: `take` returns the wait to honour, or
 * throws RetryBudgetError (naming `what`) when the server asks for more than the cap or the budget.
 */
export class RetryAfterBudget {
  private waited = 0;
  constructor(private readonly limits: RetryAfterLimits = DEFAULT_RETRY_AFTER) {}

  take(ms: number, what: string): number {
    if (ms > this.limits.capMs) {
      throw new RetryBudgetError(
        `${what}: asked to retry after ${seconds(ms)}, more than the ${seconds(this.limits.capMs)} this agent waits`,
      );
    }
    if (this.waited + ms > this.limits.budgetMs) {
      throw new RetryBudgetError(
        `${what}: still refused after waiting ${seconds(this.waited)} as asked (Retry-After); giving up`,
      );
    }
    this.waited += ms;
    return ms;
  }
}
