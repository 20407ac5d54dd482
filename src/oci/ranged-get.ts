import { httpGet, type HttpResponse } from "./http-get.js";
import { RegistryError } from "./registry-client.js";
import { retryAfterOf } from "./retry-after.js";
import { TransientError, type OpenedBody } from "./verified-stream.js";

export interface RangedGetOptions {
  authorization?: string;
  signal?: AbortSignal;
}

/** GET `url` starting at byte `from`: a Range request when resuming, a plain GET from 0. */
export function rangedGet(url: URL, from: number, o: RangedGetOptions = {}): Promise<HttpResponse> {
  const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
  return httpGet(url, { headers, authorization: o.authorization, signal: o.signal });
}

/**
 * The body of a `rangedGet` answer and the offset it starts at. A 200 starts at 0 (the server
 * ignored Range; verifiedStream skips what it already has). Any status but 200 and 206 drains the
 * body and throws `<what>: HTTP <status>`: a TransientError for a 429 or 503 (carrying what its
 * Retry-After asks for) and for the statuses in `transient`, else a RegistryError with the status.
 */
export function rangedBody(
  res: HttpResponse,
  from: number,
  what: string,
  transient: readonly number[] = [],
): OpenedBody {
  const { status } = res;
  if (status !== 200 && status !== 206) {
    res.body.resume();
    const msg = `${what}: HTTP ${status}`;
    const retryAfter = retryAfterOf(status, res.headers["retry-after"]);
    if (status === 429 || status === 503 || transient.includes(status)) {
      throw new TransientError(msg, retryAfter);
    }
    throw new RegistryError(msg, status);
  }
  return { body: res.body, start: status === 206 ? contentRangeStart(res, from) : 0 };
}

function contentRangeStart(res: HttpResponse, from: number): number {
  const m = /bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
  return m ? Number(m[1]) : from;
}
