import { createHash } from "node:crypto";
import { parseChallenge, basicHeader, type Credentials } from "./auth.js";
import { MANIFEST_ACCEPT } from "./media-types.js";
import { isLoopbackHost } from "../lib/net.js";
import type { ImageRef } from "./reference.js";
import { seconds } from "../lib/human.js";
import { sleep } from "../lib/sleep.js";
import { DEFAULT_RETRY_AFTER, retryAfterOf, RetryAfterBudget, type RetryAfterLimits } from "./retry-after.js";

/** How long a manifest or token request may take, answer and body, unless told otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** A manifest GET or HEAD answered with a 5xx (no Retry-After) is tried this many more times. */
const SERVER_ERROR_RETRIES = 2;

export interface RegistryClientOptions {
  /** Credentials per registry host (`host[:port]`); anonymous when undefined. */
  credentials?: (registry: string) => Credentials | undefined;
  /** Hosts (`host:port`) allowed to speak plain HTTP besides loopback. */
  insecureRegistries?: string[];
  userAgent?: string;
  /** Limit on each manifest and token request (answer and body), default 30 s. */
  requestTimeoutMs?: number;
  /** Bounds on waiting out 429/503 answers with Retry-After. */
  retryAfter?: RetryAfterLimits;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** What a 429/503 answer's Retry-After asked for. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/** The registry could not be reached at all; `code` is the system's (ECONNREFUSED, ENOTFOUND...). */
export class RegistryConnectError extends RegistryError {
  constructor(
    readonly host: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot connect to ${host}: ${connectCause(code, cause)}`);
    this.name = "RegistryConnectError";
    this.cause = cause;
  }
}

function connectCause(code: string | undefined, cause: unknown): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found (DNS)";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "timed out connecting";
    case "ECONNRESET":
      return "connection reset";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "no route to host";
    default:
      return cause instanceof Error ? cause.message : String(cause);
  }
}

/** What a timed request is waiting for, named in its timeout error. */
interface WaitingOn {
  what: string;
  host: string;
}

/** A manifest or token request that got no (complete) answer in time. */
export class RegistryTimeoutError extends RegistryError {
  constructor(what: string, host: string, ms: number) {
    super(`${what} to ${host} got no answer within ${seconds(ms)}`);
    this.name = "RegistryTimeoutError";
  }
}

/** fetch() whose failure to connect names the host and the cause instead of "fetch failed". */
async function fetchFrom(url: string | URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if ((e as { name?: string }).name === "AbortError" || init.signal?.aborted) throw e;
    const cause = (e as { cause?: unknown }).cause ?? e;
    const code = (cause as { code?: string }).code;
    throw new RegistryConnectError(new URL(url).host, code, cause);
  }
}

/** The error for a non-2xx answer; a 429 or 503 carries what its Retry-After asks for. */
function refused(what: string, res: Response): RegistryError {
  return new RegistryError(
    `${what}: HTTP ${res.status}`,
    res.status,
    retryAfterOf(res.status, res.headers.get("retry-after")),
  );
}

/** containerd's cap on a manifest or index: bigger ones are refused before they are parsed. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Token endpoints answer a few kilobytes of JSON. */
const MAX_TOKEN_BYTES = 1024 * 1024;

const mib = (n: number) => `${n / 1024 / 1024} MiB`;

/**
 * A response body read into memory, refused (and the connection dropped, without reading on) as
 * soon as it is known to exceed `cap` bytes: by its Content-Length, or by the bytes received.
 */
export async function readCapped(res: Response, cap: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  const refuse = () => new RegistryError(`${what} is larger than ${mib(cap)}: refusing it`);
  if (declared > cap) {
    await res.body?.cancel().catch(() => {});
    throw refuse();
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.byteLength;
    if (size > cap) {
      await reader.cancel().catch(() => {});
      throw refuse();
    }
    chunks.push(r.value);
  }
  return Buffer.concat(chunks, size);
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestHead {
  body: Buffer;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: RequestInit["body"];
  signal?: AbortSignal;
  push?: boolean;
  /** Send the body with `duplex: "half"` (a stream). */
  stream?: boolean;
  /** Told when the request waits on a token endpoint (for a timeout's message). */
  at?: WaitingOn;
}

/**
 * A small OCI distribution client on Node's fetch: challenge-driven auth (basic and bearer,
 * anonymous tokens too), tokens cached per repository and scope. Redirects are followed by fetch,
 * which drops Authorization across origins as the spec requires.
 */
export class RegistryClient {
  private readonly tokens = new Map<string, { header: string; expires: number }>();

  constructor(private readonly opts: RegistryClientOptions = {}) {}

  /**
   * Run `fn` (a request and the reading of its body) under the request timeout; when it fires,
   * the request is aborted and the error says what got no answer from which host: `fn` updates
   * `at` while it waits on another host (a token endpoint).
   */
  private async timed<T>(
    what: string,
    host: string,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal, at: WaitingOn) => Promise<T>,
  ): Promise<T> {
    const ms = this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const at: WaitingOn = { what, host };
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(new RegistryTimeoutError(at.what, at.host, ms)), ms);
    try {
      return await fn(signal ? AbortSignal.any([signal, timer.signal]) : timer.signal, at);
    } catch (e) {
      if (timer.signal.aborted && !signal?.aborted) throw timer.signal.reason;
      throw e;
    } finally {
      clearTimeout(t);
    }
  }

  /**
   * A manifest request with the retries a registry under load deserves: a 429 or 503 with
   * Retry-After is waited out (bounded), and other 5xx answers are tried again after a short pause.
   */
  private async retrying<T>(
    ref: ImageRef,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal, at: WaitingOn) => Promise<T>,
  ): Promise<T> {
    const budget = new RetryAfterBudget(this.opts.retryAfter ?? DEFAULT_RETRY_AFTER);
    for (let serverErrors = 0; ;) {
      try {
        return await this.timed("manifest request", ref.registry, signal, fn);
      } catch (e) {
        if (!(e instanceof RegistryError) || signal?.aborted) throw e;
        if (e.retryAfterMs !== undefined) {
          await sleep(budget.take(e.retryAfterMs, `registry ${ref.registry}`), signal);
          continue;
        }
        const status = e.status ?? 0;
        if (status < 500 || serverErrors >= SERVER_ERROR_RETRIES) throw e;
        await sleep(250 * 2 ** serverErrors++, signal);
      }
    }
  }

  baseUrl(registry: string): string {
    const plain = isLoopbackHost(registry) || (this.opts.insecureRegistries ?? []).includes(registry);
    return `${plain ? "http" : "https"}://${registry}`;
  }

  private scopeKey(ref: ImageRef, push: boolean): string {
    return `${ref.registry}|${ref.repository}|${push ? "push,pull" : "pull"}`;
  }

  /** Make an authenticated request to `/v2/<repo>/<path>` (or an absolute URL from a Location header). */
  async request(ref: ImageRef, pathOrUrl: string, o: RequestOptions = {}): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl)
      ? pathOrUrl
      : `${this.baseUrl(ref.registry)}/v2/${ref.repository}/${pathOrUrl}`;
    const key = this.scopeKey(ref, !!o.push);
    const send = (auth?: string) => {
      const headers: Record<string, string> = {
        "user-agent": this.opts.userAgent ?? "backplane",
        ...o.headers,
      };
      if (auth) headers.authorization = auth;
      const init: RequestInit & { duplex?: "half" } = {
        method: o.method ?? "GET",
        headers,
        body: o.body,
        signal: o.signal,
        redirect: "follow",
      };
      if (o.stream) init.duplex = "half";
      return fetchFrom(url, init);
    };
    const cached = this.tokens.get(key);
    let res = await send(cached && cached.expires > Date.now() ? cached.header : undefined);
    if (res.status !== 401) return res;
    if (o.stream) throw new RegistryError(`${url}: 401 on a streamed upload; authenticate first`, 401);
    const challenge = parseChallenge(res.headers.get("www-authenticate"));
    await res.body?.cancel();
    if (!challenge) throw new RegistryError(`${url}: 401 without a usable WWW-Authenticate challenge`, 401);
    const header = await this.authorize(ref, challenge, !!o.push, o.signal, o.at);
    res = await send(header);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new RegistryError(`${ref.registry}: authentication refused for ${ref.repository}`, 401);
    }
    return res;
  }

  private async authorize(
    ref: ImageRef,
    ch: ReturnType<typeof parseChallenge> & object,
    push: boolean,
    signal?: AbortSignal,
    at?: WaitingOn,
  ): Promise<string> {
    const creds = this.opts.credentials?.(ref.registry);
    const key = this.scopeKey(ref, push);
    if (ch.scheme === "basic") {
      if (!creds) throw new RegistryError(`${ref.registry} needs credentials (basic auth)`, 401);
      const header = basicHeader(creds);
      this.tokens.set(key, { header, expires: Number.MAX_SAFE_INTEGER });
      return header;
    }
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError(`${ref.registry}: bearer challenge without realm`, 401);
    const u = new URL(realm);
    if (ch.params.service) u.searchParams.set("service", ch.params.service);
    u.searchParams.set(
      "scope",
      ch.params.scope ?? `repository:${ref.repository}:${push ? "push,pull" : "pull"}`,
    );
    const waited = at && { ...at };
    if (at) Object.assign(at, { what: "token request", host: u.host });
    const body = await this.timed("token request", u.host, signal, async (timed) => {
      const res = await fetchFrom(u, {
        headers: creds ? { authorization: basicHeader(creds) } : {},
        signal: timed,
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw new RegistryError(`token request to ${u.host} failed: HTTP ${res.status}`, res.status);
      }
      try {
        const raw = await readCapped(res, MAX_TOKEN_BYTES, `token response from ${u.host}`);
        const v = JSON.parse(raw.toString("utf8")) as {
          token?: string;
          access_token?: string;
          expires_in?: number;
        };
        if (typeof v !== "object" || v === null) throw new Error("not an object");
        return v;
      } catch (e) {
        if (e instanceof RegistryError || timed.aborted) throw e;
        throw new RegistryError(`token response from ${u.host} is not JSON`);
      }
    });
    if (at && waited) Object.assign(at, waited);
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token response from ${u.host} has no token`);
    const header = `Bearer ${token}`;
    const ttl = Math.max(30, body.expires_in ?? 60) * 1000;
    this.tokens.set(key, { header, expires: Date.now() + ttl - 10_000 });
    return header;
  }

  /**
   * The Authorization header for pulling from `ref`: the cached one (or none) when `challenge` is
   * undefined, else a fresh one answering that WWW-Authenticate challenge. For callers that make
   * their own requests (streamed blob downloads).
   */
  async pullAuthorization(
    ref: ImageRef,
    challenge?: string | null,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (challenge === undefined) {
      const cached = this.tokens.get(this.scopeKey(ref, false));
      return cached && cached.expires > Date.now() ? cached.header : undefined;
    }
    const ch = parseChallenge(challenge);
    if (!ch) throw new RegistryError(`${ref.registry}: 401 without a usable WWW-Authenticate challenge`, 401);
    return this.authorize(ref, ch, false, signal);
  }

  /** HEAD a manifest: its digest without downloading it (not counted against Docker Hub pulls). */
  async headManifest(ref: ImageRef, signal?: AbortSignal): Promise<ManifestHead> {
    const reference = ref.digest ?? ref.tag ?? "latest";
    const head = await this.retrying(ref, signal, async (timed, at) => {
      const res = await this.request(ref, `manifests/${reference}`, {
        method: "HEAD",
        headers: { accept: MANIFEST_ACCEPT },
        signal: timed,
        at,
      });
      if (!res.ok) throw refused(`HEAD ${ref.repository}:${reference}`, res);
      return {
        digest: res.headers.get("docker-content-digest"),
        mediaType: res.headers.get("content-type") ?? "",
        size: Number(res.headers.get("content-length") ?? 0),
      };
    });
    if (!head.digest) {
      // No digest header: fall back to a GET and hash the bytes.
      const m = await this.getManifest(ref, reference, signal);
      return { digest: m.digest, mediaType: m.mediaType, size: m.size };
    }
    return { ...head, digest: head.digest };
  }

  /** GET a manifest by tag or digest; the digest is computed from the bytes, never trusted. */
  async getManifest(
    ref: ImageRef,
    reference = ref.digest ?? ref.tag ?? "latest",
    signal?: AbortSignal,
  ): Promise<Manifest> {
    return this.retrying(ref, signal, async (timed, at) => {
      const res = await this.request(ref, `manifests/${reference}`, {
        headers: { accept: MANIFEST_ACCEPT },
        signal: timed,
        at,
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        throw refused(`GET ${ref.repository}:${reference}`, res);
      }
      const body = await readCapped(
        res,
        MAX_MANIFEST_BYTES,
        `manifest ${ref.repository}${reference.startsWith("sha256:") ? "@" : ":"}${reference}`,
      );
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      if (reference.startsWith("sha256:") && reference !== digest) {
        throw new RegistryError(`manifest ${reference} has digest ${digest}: refusing it`);
      }
      return { digest, mediaType: res.headers.get("content-type") ?? "", size: body.length, body };
    });
  }

  /** Start a blob download; `from` resumes with a Range request (206 expected, 200 means from 0). */
  async getBlob(
    ref: ImageRef,
    digest: string,
    o: { from?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (o.from && o.from > 0) headers.range = `bytes=${o.from}-`;
    const res = await this.request(ref, `blobs/${digest}`, { headers, signal: o.signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(`GET blob ${digest.slice(0, 19)}: HTTP ${res.status}`, res.status);
    }
    return res;
  }

  async hasBlob(ref: ImageRef, digest: string): Promise<boolean> {
    const res = await this.request(ref, `blobs/${digest}`, { method: "HEAD", push: true });
    return res.ok;
  }

  /** Monolithic blob upload (POST then PUT); skipped when the registry already has it. */
  async pushBlob(
    ref: ImageRef,
    digest: string,
    size: number,
    body: () => NonNullable<RequestInit["body"]>,
  ): Promise<void> {
    if (await this.hasBlob(ref, digest)) return;
    const start = await this.request(ref, "blobs/uploads/", { method: "POST", push: true });
    if (start.status !== 202) throw new RegistryError(`start upload: HTTP ${start.status}`, start.status);
    await start.body?.cancel();
    const loc = start.headers.get("location");
    if (!loc) throw new RegistryError("start upload: no Location");
    const url = new URL(loc, this.baseUrl(ref.registry));
    url.searchParams.set("digest", digest);
    const put = await this.request(ref, url.toString(), {
      method: "PUT",
      push: true,
      stream: true,
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body: body(),
    });
    if (put.status !== 201) {
      throw new RegistryError(
        `upload ${digest.slice(0, 19)}: HTTP ${put.status} ${await put.text()}`,
        put.status,
      );
    }
  }

  async pushManifest(ref: ImageRef, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const res = await this.request(ref, `manifests/${reference}`, {
      method: "PUT",
      push: true,
      headers: { "content-type": mediaType },
      body: new Uint8Array(body),
    });
    if (res.status !== 201)
      throw new RegistryError(`PUT manifest: HTTP ${res.status} ${await res.text()}`, res.status);
    return `sha256:${createHash("sha256").update(body).digest("hex")}`;
  }
}
