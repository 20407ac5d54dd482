import { headers, type NatsConnection } from "@nats-io/transport-node";
import {
  api,
  ApiEnvelope,
  decode,
  DEFAULT_API_TIMEOUT_MS,
  encode,
  IDEMPOTENCY_HEADER,
  validate,
  type ApiErrorCode,
  type ApiMethod,
  type ApiRequest,
  type ApiResult,
  type Subjects,
} from "../protocol/index.js";
import { errorMessage } from "../lib/log.js";
import { isNoResponders, isRequestTimeout } from "./errors.js";

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly code: ApiErrorCode | "timeout" | "no_responders",
    readonly subject: string,
    readonly field?: string,
    /** For a timeout: how long was waited. */
    readonly timeoutMs?: number,
  ) {
    super(message);
    this.name = "ApiCallError";
  }
}

export interface CallOptions {
  /**
   * Sent as the IDEMPOTENCY_HEADER: the controller applies a write once per (method, key) and
   * answers a repeat with the first reply, so the same call may be retried after a timeout.
   */
  idempotencyKey?: string;
}

/** Typed request/reply against the controller API, with a timeout and errors that name the subject. */
export async function callApi<M extends ApiMethod>(
  nc: NatsConnection,
  subjects: Subjects,
  method: M,
  req: ApiRequest<M>,
  timeoutMs = DEFAULT_API_TIMEOUT_MS,
  opts: CallOptions = {},
): Promise<ApiResult<M>> {
  const subject = subjects.api(method);
  const checked = validate(api[method].req, req);
  if (!checked.ok)
    throw new ApiCallError(`invalid ${method} request: ${checked.error}`, "bad_request", subject);
  let reply;
  try {
    const h = opts.idempotencyKey === undefined ? undefined : headers();
    if (h && opts.idempotencyKey !== undefined) h.set(IDEMPOTENCY_HEADER, opts.idempotencyKey);
    reply = await nc.request(subject, encode(checked.value), { timeout: timeoutMs, headers: h });
  } catch (e) {
    if (isNoResponders(e)) {
      throw new ApiCallError(`no controller is serving ${subject} (no responders)`, "no_responders", subject);
    }
    if (isRequestTimeout(e)) {
      throw new ApiCallError(
        `${subject}: no reply within ${timeoutMs} ms`,
        "timeout",
        subject,
        undefined,
        timeoutMs,
      );
    }
    throw new ApiCallError(`${subject}: ${errorMessage(e)}`, "unavailable", subject);
  }
  const env = decode(ApiEnvelope, reply.data);
  if (!env.ok) throw new ApiCallError(`${subject}: malformed reply: ${env.error}`, "internal", subject);
  if (!env.value.ok) {
    const { code, message, field } = env.value.error;
    throw new ApiCallError(message, code, subject, field);
  }
  const data = validate(api[method].res, env.value.data);
  if (!data.ok) throw new ApiCallError(`${subject}: malformed reply: ${data.error}`, "internal", subject);
  return data.value as ApiResult<M>;
}
