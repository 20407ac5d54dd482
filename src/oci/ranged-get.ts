import { httpGet, type HttpResponse } from "./http-get.js";
import type { OpenedBody } from "./verified-stream.js";

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
 * body and throws `refusal(status, res)`.
 */
export function rangedBody(
  res: HttpResponse,
  from: number,
  refusal: (status: number, res: HttpResponse) => Error,
): OpenedBody {
  if (res.status !== 200 && res.status !== 206) {
    res.body.resume();
    throw refusal(res.status, res);
  }
  return { body: res.body, start: res.status === 206 ? contentRangeStart(res, from) : 0 };
}

function contentRangeStart(res: HttpResponse, from: number): number {
  const m = /bytes (\d+)-/.exec(String(res.headers["content-range"] ?? ""));
  return m ? Number(m[1]) : from;
}
