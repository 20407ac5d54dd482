import { headers, type NatsConnection } from "@nats-io/transport-node";
import {
  api,
  API_WRITES,
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

/** The connection dropped while a request waited for its reply. */
class ConnectionLost extends Error {}

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly code: ApiErrorCode | "timeout" | "no_responders",
    readonly subject: string,
    readonly field?: string,
    /** For a timeout: the call's timeout, how long it waited for a reply. */
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
  /**
   * Ask again, within the call's timeout, when a call that may be repeated (a read, or a write
   * carrying an idempotency key) fails for a reason time fixes: no reply, no controller, a
   * controller that says `unavailable`, the connection lost under the request. Default true;
   * false: ask once. A write without a key is never asked twice (it could be applied twice).
   */
  retry?: boolean;
}

/** What the caller can tell callApi about the connection, beyond the handle itself. */
export interface ConnectionEvents {
  /** Call `l` when the connection drops: a reply to a request sent before then is lost. */
  onDisconnect(l: () => void): () => void;
}

const RETRYABLE: ReadonlySet<ApiCallError["code"]> = new Set(["timeout", "no_responders", "unavailable"]);

/** Whether a call may be repeated without applying anything twice. */
export function repeatable(method: ApiMethod, opts: CallOptions): boolean {
  return !API_WRITES.has(method) || opts.idempotencyKey !== undefined;
}

/**
 * No responders is asked again only this long: a controller that lost its server subscribes again
 * within a second or two of reconnecting; past that, nobody serves the API, and the operator
 * should hear so now rather than at the end of a long call's timeout.
 */
export const NO_RESPONDERS_RETRY_MS = 5_000;

/** A repeatable call still unanswered after this long is sent again (then after twice as long...). */
export const RESEND_AFTER_MS = 2_000;

/**
 * Typed request/reply against the controller API, with a timeout and errors that name the
 * subject. Within its timeout a repeatable call (see `repeatable`) is sent again, with backoff,
 * after a failure time may fix, and also when it has had no answer for a while (RESEND_AFTER_MS,
 * doubling), since a request or reply may be lost with a server; the first answer of any copy
 * counts, so a call that is merely slow loses nothing. The default timeout (10 s) outlasts what
 * losing one NATS server of three costs: the client's reconnect, the elections of the stream
 * leaders it held (4 to 9 s on 2.9).
 */
export async function callApi<M extends ApiMethod>(
  nc: NatsConnection,
  subjects: Subjects,
  method: M,
  req: ApiRequest<M>,
  timeoutMs = DEFAULT_API_TIMEOUT_MS,
  opts: CallOptions = {},
  events?: ConnectionEvents,
): Promise<ApiResult<M>> {
  if (opts.retry === false || !repeatable(method, opts))
    return callOnce(nc, subjects, method, req, timeoutMs, opts, events);
  const started = Date.now();
  const deadline = started + timeoutMs;
  return new Promise<ApiResult<M>>((resolve, reject) => {
    let settled = false;
    let inFlight = 0;
    let sent = 0;
    let failures = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const giveUp = (e: ApiCallError) => {
      if (e.code !== "timeout") return finish(() => reject(e));
      // The call's timeout, not a measurement (a copy's own timeout is what was left of it, and
      // timers fire late on a busy machine): callers show this figure to the operator.
      const why = `${e.subject}: no reply within ${timeoutMs} ms${sent > 1 ? ` (sent ${sent} times)` : ""}`;
      finish(() => reject(new ApiCallError(why, "timeout", e.subject, undefined, timeoutMs)));
    };
    const send = () => {
      clearTimeout(timer);
      const left = deadline - Date.now();
      if (settled || left <= 0) return;
      sent++;
      inFlight++;
      timer = setTimeout(send, Math.min(RESEND_AFTER_MS * 2 ** (sent - 1), left));
      callOnce(nc, subjects, method, req, left, opts, events).then(
        (r) => finish(() => resolve(r)),
        (e: unknown) => {
          inFlight--;
          if (!(e instanceof ApiCallError) || !RETRYABLE.has(e.code)) return finish(() => reject(e));
          if (e.code === "no_responders" && Date.now() - started >= NO_RESPONDERS_RETRY_MS) {
            if (inFlight === 0) giveUp(e);
            return;
          }
          const wait = Math.min(1_000, 100 * 2 ** failures++);
          if (Date.now() + wait >= deadline) {
            if (inFlight === 0) giveUp(e);
            return;
          }
          if (inFlight > 0) return;
          clearTimeout(timer);
          timer = setTimeout(send, wait);
        },
      );
    };
    send();
  });
}

async function callOnce<M extends ApiMethod>(
  nc: NatsConnection,
  subjects: Subjects,
  method: M,
  req: ApiRequest<M>,
  timeoutMs: number,
  opts: CallOptions,
  events?: ConnectionEvents,
): Promise<ApiResult<M>> {
  const subject = subjects.api(method);
  const checked = validate(api[method].req, req);
  if (!checked.ok)
    throw new ApiCallError(`invalid ${method} request: ${checked.error}`, "bad_request", subject);
  let reply;
  let stopListening = () => {};
  try {
    const h = opts.idempotencyKey === undefined ? undefined : headers();
    if (h && opts.idempotencyKey !== undefined) h.set(IDEMPOTENCY_HEADER, opts.idempotencyKey);
    const request = nc.request(subject, encode(checked.value), { timeout: timeoutMs, headers: h });
    reply = await (events
      ? Promise.race([
          request,
          new Promise<never>((_, reject) => {
            stopListening = events.onDisconnect(() => reject(new ConnectionLost()));
          }),
        ])
      : request);
  } catch (e) {
    if (e instanceof ConnectionLost) {
      throw new ApiCallError(`${subject}: connection lost before the reply`, "unavailable", subject);
    }
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
  } finally {
    stopListening();
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
