import type { ClusterClient } from "../client/index.js";
import { errorMessage } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import { encode, IDEMPOTENCY_HEADER, type ApiEnvelope } from "../protocol/index.js";
import type { ApiHandlers } from "./api-handlers.js";

/** Queue group shared by every replica, so each request is answered once, by whoever is up. */
export const API_QUEUE = "backplane-controller";

/**
 * Serve `<prefix>.api.<method>` with plain request/reply in one queue group. A body that is not
 * JSON gets a `bad_request` envelope; nothing a client sends can crash the replica.
 */
export function serveNatsApi(client: ClusterClient, handlers: ApiHandlers, telemetry: Telemetry): () => void {
  const logger = telemetry.log;
  const prefix = `${client.subjects.api("")}`; // "<prefix>.api."
  return client.serve(
    client.subjects.apiAll(),
    (msg) => {
      const method = msg.subject.slice(prefix.length);
      void (async () => {
        let reply: ApiEnvelope;
        let body: unknown;
        try {
          body = msg.data.length === 0 ? {} : JSON.parse(new TextDecoder().decode(msg.data));
        } catch (e) {
          reply = {
            ok: false,
            error: { code: "bad_request", message: `request body is not JSON: ${errorMessage(e)}` },
          };
          msg.respond?.(encode(reply));
          return;
        }
        const key = msg.header?.(IDEMPOTENCY_HEADER);
        reply = await handlers.handle(method, body, {
          defaultActor: "nats",
          ...(key ? { idempotencyKey: key } : {}),
        });
        if (!msg.respond) return;
        let bytes = encode(reply);
        const max = client.maxPayload;
        if (bytes.byteLength > max) {
          // NATS would refuse it and the caller would only see a timeout: say what happened instead.
          bytes = encode({
            ok: false,
            error: {
              code: "unavailable",
              message: `${method} reply is ${bytes.byteLength} bytes, over the server's ${max}-byte limit; narrow the query or use the HTTP API`,
            },
          } satisfies ApiEnvelope);
        }
        msg.respond(bytes);
      })().catch((e) => logger.error("API reply failed", { subject: msg.subject, error: errorMessage(e) }));
    },
    {
      queue: API_QUEUE,
      onError: (err) => logger.warn("API subscription error", { error: errorMessage(err) }),
    },
  );
}
