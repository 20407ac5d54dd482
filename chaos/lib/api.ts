/** API calls the way an operator's tools make them in a scenario: keyed writes retried with the same key. */
import { randomBytes } from "node:crypto";
import { ApiCallError, type ClusterClient } from "../../src/client/index.js";
import { sleep } from "./procs.js";

export interface FanOut {
  backend: string;
  key: string;
  /** Attempts that got no reply (timeout, no responders, connection). */
  lost: number;
  admitted?: Array<{ nodeId: string; opId: string }>;
  error?: string;
  /** From the first attempt to the answer (or to giving up). */
  tookMs: number;
}

/**
 * ops.install of `backend` on `nodes` with an idempotency key, retried with the same key after a
 * lost reply until answered or `boundMs` passed.
 */
export async function installEverywhere(
  client: ClusterClient,
  backend: string,
  nodes: string[],
  o: { callTimeoutMs?: number; boundMs?: number } = {},
): Promise<FanOut> {
  const started = Date.now();
  const call: FanOut = { backend, key: randomBytes(12).toString("hex"), lost: 0, tookMs: 0 };
  const bound = o.boundMs ?? 60_000;
  const deadline = Date.now() + bound;
  while (Date.now() < deadline) {
    try {
      const r = await client.call(
        "ops.install",
        { backend, nodes, actor: "chaos" },
        o.callTimeoutMs ?? 3_000,
        {
          idempotencyKey: call.key,
        },
      );
      call.admitted = r.admitted.map((a) => ({ nodeId: a.nodeId, opId: a.opId }));
      if (r.refused.length) call.error = r.refused.map((x) => `${x.nodeId}: ${x.error}`).join("; ");
      call.tookMs = Date.now() - started;
      return call;
    } catch (e) {
      const noReply =
        e instanceof ApiCallError && ["timeout", "no_responders", "unavailable"].includes(e.code);
      if (!noReply) {
        call.error = (e as Error).message;
        call.tookMs = Date.now() - started;
        return call;
      }
      call.lost++;
      await sleep(300);
    }
  }
  call.error = `no answer within ${bound / 1000} s`;
  call.tookMs = Date.now() - started;
  return call;
}
