import type { ClusterClient } from "../../../src/client/cluster-client.js";
import {
  decode,
  encode,
  type ApiMethod,
  type ApiReply,
  type ApiRequest,
} from "../../../src/protocol/index.js";
import { z } from "zod";

export interface Recorded {
  method: ApiMethod;
  req: Record<string, unknown>;
}

type Handler<M extends ApiMethod> = (
  req: ApiRequest<M>,
) => ApiReply<M> | { error: { code: string; message: string } };

/**
 * A tiny controller stand-in: a real NATS peer answering `<prefix>.api.<method>` with the protocol's
 * envelope, recording every request. Methods without a handler get no responder at all.
 */
export function startResponder(
  client: ClusterClient,
  handlers: { [M in ApiMethod]?: Handler<M> },
): { calls: Recorded[]; stop(): void } {
  const calls: Recorded[] = [];
  const subs = Object.entries(handlers).map(([method, handle]) =>
    client.nc.subscribe(client.subjects.api(method), {
      callback: (_err, msg) => {
        const d = decode(z.record(z.string(), z.unknown()), msg.data);
        const req = d.ok ? d.value : {};
        calls.push({ method: method as ApiMethod, req });
        const out = (handle as (r: unknown) => unknown)(req) as { error?: unknown };
        msg.respond(
          encode(
            out && typeof out === "object" && "error" in out
              ? { ok: false, error: out.error }
              : { ok: true, data: out },
          ),
        );
      },
    }),
  );
  return {
    calls,
    stop: () => subs.forEach((s) => s.unsubscribe()),
  };
}
