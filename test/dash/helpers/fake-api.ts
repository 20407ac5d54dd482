import {
  api,
  type ApiMethod,
  type ApiReply,
  type ApiRequest,
  type ApiResult,
} from "../../../src/protocol/index.js";
import type { ApiCaller } from "../../../src/store/cluster-feed.js";

/** Handlers answer as a controller does on the wire; the reply is read as the client reads it. */
type Handlers = { [M in ApiMethod]?: (req: ApiRequest<M>) => ApiReply<M> };

/** An in-process controller stand-in for view tests: answers the methods given, records every call. */
export function fakeApi(
  handlers: Handlers,
): ApiCaller & { calls: Array<{ method: ApiMethod; req: unknown }> } {
  const calls: Array<{ method: ApiMethod; req: unknown }> = [];
  return {
    calls,
    call<M extends ApiMethod>(method: M, req: ApiRequest<M>): Promise<ApiResult<M>> {
      calls.push({ method, req });
      const h = handlers[method] as ((r: ApiRequest<M>) => ApiReply<M>) | undefined;
      if (!h) return Promise.reject(new Error(`no controller is serving ${method} in this test`));
      try {
        return Promise.resolve(api[method].res.parse(h(req)) as ApiResult<M>);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
  };
}
