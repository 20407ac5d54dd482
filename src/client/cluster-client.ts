import { randomUUID } from "node:crypto";
import { jetstream, type JetStreamClient, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import { validateKey } from "@nats-io/kv/internal";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  API_WRITES,
  AuditEvent,
  BUCKETS,
  bucketNames,
  CancelSignal,
  decode,
  DEFAULT_PREFIX,
  encode,
  Heartbeat,
  keyDisagreement,
  ProgressEvent,
  Subjects,
  validate,
  type ApiMethod,
  type ApiRequest,
  type ApiResult,
  type BucketKey,
  type BucketValue,
} from "../protocol/index.js";
import { callApi, type CallOptions } from "./api-client.js";
import { readBucket, readKeys, type BucketRow } from "./bucket-read.js";
import {
  backoffMs,
  describeConnectError,
  dial,
  inboxPrefixFor,
  type ConnectionStatus,
  type ConnectOptions,
} from "./connection.js";
import { connectProblem, isCasConflict, MalformedRecordError } from "./errors.js";
import { JsPublisher, type JsPublishOptions } from "./js-publish.js";
import { errorMessage, silentLogger, type Logger } from "../lib/log.js";
import { ReportOnce } from "../lib/report-once.js";
import { ensureTopology, openOrCreate, type TopologyOptions } from "./topology.js";
import { watchBucket, type WatchEvent, type Watcher, type WatchOptions } from "./watch.js";

/** `modify` gave up: other writers kept changing the record for all of its attempts. */
export class ContentionError extends Error {}

export interface ClusterClientOptions extends ConnectOptions {
  prefix?: string;
  replicas?: number;
  leaseTtlMs?: number;
  /** Size cap of the audit stream, used only when this client creates it. */
  eventsMaxBytes?: number;
  apiTimeoutMs?: number;
  logger?: Logger;
  /**
   * Give every write call made without an idempotency key a fresh one, so that it too may be
   * asked again after a server loss without being applied twice (the CLI's one-shot commands).
   */
  keyWrites?: boolean;
  /** Attach to the topology without reading stream state, as a confined agent must (see ensureTopology). */
  attachOnly?: TopologyOptions["attachOnly"];
}

export interface Entry<T> {
  value: T;
  revision: number;
}

/** A key whose value does not validate: listed so it can be shown and repaired, not hidden. */
export interface UnreadableRow {
  key: string;
  revision: number;
  error: string;
}

/** A request as `serve` hands it over. */
export interface IncomingRequest {
  subject: string;
  data: Uint8Array;
  respond?: (bytes: Uint8Array) => void;
  /** A header of the request (the API's Idempotency-Key); undefined when absent. */
  header?: (name: string) => string | undefined;
}

/** Handle for a live subscription. */
export interface Unsubscribe {
  (): void;
}

/**
 * The one NATS client every role uses. It connects in the background (retrying forever with
 * jittered backoff and reporting why it fails), creates or attaches the buckets and streams,
 * and offers typed watches, record reads/writes, subscriptions and API calls.
 */
export class ClusterClient {
  readonly subjects: Subjects;
  readonly prefix: string;
  private statusValue: ConnectionStatus = { state: "connecting", since: Date.now(), attempts: 0 };
  private readonly statusListeners = new Set<(s: ConnectionStatus) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly disconnectListeners = new Set<() => void>();
  private conn?: {
    nc: NatsConnection;
    js: JetStreamClient;
    jsm: JetStreamManager;
    buckets: Record<BucketKey, KV>;
    pub: JsPublisher;
  };
  private readyPromise: Promise<void>;
  private closing = false;
  private wakeRetry?: () => void;
  private readonly log: Logger;
  /** Records already reported for naming another key than their own (reported once each). */
  private readonly disbelieved = new Set<string>();
  /** Malformed values already logged (bucket, key, revision): a loop meeting one says so once. */
  private readonly reported = new ReportOnce();

  private constructor(private readonly opts: ClusterClientOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.subjects = new Subjects(this.prefix);
    this.log = opts.logger ?? silentLogger;
    this.readyPromise = this.run();
    this.readyPromise.catch(() => {});
  }

  /** Start connecting in the background; use `ready()` or `onStatus()` to follow. */
  static open(opts: ClusterClientOptions): ClusterClient {
    return new ClusterClient(opts);
  }

  /** Connect and wait until the topology is usable. Retries forever unless `signal` aborts. */
  static async connect(opts: ClusterClientOptions, signal?: AbortSignal): Promise<ClusterClient> {
    const c = new ClusterClient(opts);
    const abort = () => void c.close();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      await c.ready();
      return c;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  onStatus(listener: (s: ConnectionStatus) => void): Unsubscribe {
    this.statusListeners.add(listener);
    listener(this.statusValue);
    return () => this.statusListeners.delete(listener);
  }

  private setStatus(s: Partial<ConnectionStatus> & Pick<ConnectionStatus, "state">): void {
    const changed = s.state !== this.statusValue.state;
    this.statusValue = {
      ...this.statusValue,
      ...s,
      since: changed ? Date.now() : this.statusValue.since,
    };
    for (const l of this.statusListeners) l(this.statusValue);
  }

  private async run(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.closing) throw new Error("client closed");
      this.setStatus({ state: attempt === 0 ? "connecting" : "disconnected", attempts: attempt });
      let reached = false;
      try {
        const nc = await dial({ ...this.opts, name: this.opts.name ?? "backplane" });
        reached = true;
        try {
          const { jsm, buckets } = await ensureTopology(nc, {
            prefix: this.prefix,
            replicas: this.opts.replicas ?? 1,
            leaseTtlMs: this.opts.leaseTtlMs,
            eventsMaxBytes: this.opts.eventsMaxBytes,
            attachOnly: this.opts.attachOnly,
          });
          this.conn = {
            nc,
            js: jetstream(nc),
            jsm,
            buckets,
            pub: new JsPublisher(nc, inboxPrefixFor(this.opts)),
          };
        } catch (e) {
          await nc.close().catch(() => {});
          throw e;
        }
        if (this.closing) {
          await nc.close();
          throw new Error("client closed");
        }
        this.setStatus({
          state: "connected",
          server: nc.getServer(),
          reason: undefined,
          problem: undefined,
          attempts: attempt + 1,
        });
        this.log.info("connected to NATS", { server: nc.getServer() });
        void this.followStatus(nc);
        return;
      } catch (e) {
        if (this.closing) throw new Error("client closed");
        const reason = reached ? errorMessage(e) : describeConnectError(e);
        attempt++;
        this.setStatus({
          state: "disconnected",
          reason,
          problem: connectProblem(e),
          attempts: attempt,
          server: this.opts.servers.join(","),
        });
        this.log.warn(
          reached ? "cannot set up JetStream buckets and streams, retrying" : "cannot reach NATS, retrying",
          {
            reason,
            attempt,
          },
        );
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoffMs(attempt));
          this.wakeRetry = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    }
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.setStatus({ state: "reconnecting", reason: `lost connection to ${s.server}` });
          for (const l of this.disconnectListeners) l();
          break;
        case "reconnecting":
          if (this.statusValue.state !== "reconnecting") this.setStatus({ state: "reconnecting" });
          break;
        case "reconnect":
          this.setStatus({ state: "connected", server: s.server, reason: undefined });
          for (const l of this.reconnectListeners) l();
          break;
        case "error":
          this.setStatus({ state: this.statusValue.state, reason: describeConnectError(s.error) });
          break;
        default:
          break;
      }
    }
    if (!this.closing) this.setStatus({ state: "closed", reason: "connection closed" });
  }

  private need() {
    if (!this.conn) throw new Error("not connected to NATS yet");
    return this.conn;
  }

  // The raw handles, for the transport's own modules and for tests that play a misbehaving peer;
  // eslint refuses them elsewhere in src/.
  get nc(): NatsConnection {
    return this.need().nc;
  }
  get js(): JetStreamClient {
    return this.need().js;
  }
  get jsm(): JetStreamManager {
    return this.need().jsm;
  }
  bucket(b: BucketKey): KV {
    return this.need().buckets[b];
  }

  // ------------------------------------------------------------------ records

  async get<B extends BucketKey>(b: B, key: string): Promise<Entry<BucketValue<B>> | null> {
    const e = await this.bucket(b).get(key);
    if (!e || e.operation !== "PUT") return null;
    const d = decode(BUCKETS[b].schema, e.value);
    if (!d.ok) throw new MalformedRecordError(b, key, e.revision, d.error);
    if (!this.believable(b, key, d.value as BucketValue<B>)) return null;
    return { value: d.value as BucketValue<B>, revision: e.revision };
  }

  /**
   * Whether a record's body agrees with its key (see keyDisagreement); one that does not is
   * treated as absent, and reported the first time it is seen.
   */
  private believable<B extends BucketKey>(b: B, key: string, value: BucketValue<B>): boolean {
    const why = keyDisagreement(b, key, value);
    if (why === null) return true;
    if (!this.disbelieved.has(`${b}/${key}`)) {
      this.disbelieved.add(`${b}/${key}`);
      this.log.warn("dropping a record whose body names another key than its own", {
        bucket: b,
        key,
        reason: why,
      });
    }
    return false;
  }

  /** Create a record that must not exist yet; returns its revision. */
  async create<B extends BucketKey>(b: B, key: string, value: BucketValue<B>): Promise<number> {
    return this.createIn(
      this.bucket(b),
      bucketNames(this.prefix)[b],
      key,
      encode(BUCKETS[b].schema.parse(value)),
    );
  }

  /**
   * A JetStream publish with its ack; many may be in flight at once (see JsPublisher). For hot
   * paths: one publish costs a fifth of the client CPU of `js.publish`.
   */
  jsPublish(subject: string, data: Uint8Array, o?: JsPublishOptions): Promise<PubAck> {
    return this.need().pub.publish(subject, data, o);
  }

  /**
   * `kv.create` of a bucket named `bucket` (one of this client's, or a private one), through
   * jsPublish. The key must not hold a value; when it holds one or a delete marker, nats.js's
   * create decides (it writes over a delete marker, compare-and-set).
   */
  async createIn(kv: KV, bucket: string, key: string, bytes: Uint8Array): Promise<number> {
    validateKey(key);
    try {
      return (await this.jsPublish(`$KV.${bucket}.${key}`, bytes, { expectLastSubjectSeq: 0 })).seq;
    } catch (e) {
      if (!isCasConflict(e)) throw e;
    }
    return kv.create(key, bytes);
  }

  /** Compare-and-set: throws if the record changed since `revision`. */
  async update<B extends BucketKey>(
    b: B,
    key: string,
    value: BucketValue<B>,
    revision: number,
  ): Promise<number> {
    return this.bucket(b).update(key, encode(BUCKETS[b].schema.parse(value)), revision);
  }

  async put<B extends BucketKey>(b: B, key: string, value: BucketValue<B>): Promise<number> {
    return this.bucket(b).put(key, encode(BUCKETS[b].schema.parse(value)));
  }

  async delete(b: BucketKey, key: string, revision?: number): Promise<void> {
    await this.bucket(b).delete(key, revision === undefined ? undefined : { previousSeq: revision });
  }

  /** The bucket's latest revision (its stream's last sequence): a watch that has seen it is current. */
  async lastRevision(b: BucketKey): Promise<number> {
    return (await this.jsm.streams.info(`KV_${bucketNames(this.prefix)[b]}`)).state.last_seq;
  }

  /** Keys holding a value, malformed ones too (so they can be cleaned up), matching `filter`, sorted. */
  async keys(b: BucketKey, filter = ">"): Promise<string[]> {
    return (await readKeys(this.js, bucketNames(this.prefix)[b], filter)).sort();
  }

  /** Every valid record of a bucket, read in one pass (malformed ones are logged once and skipped). */
  async list<B extends BucketKey>(b: B, filter = ">"): Promise<Array<BucketRow<BucketValue<B>>>> {
    return (await this.listAll(b, filter)).rows;
  }

  /** Every record of a bucket in one pass, the valid ones and the keys whose value does not validate. */
  async listAll<B extends BucketKey>(
    b: B,
    filter = ">",
  ): Promise<{ rows: Array<BucketRow<BucketValue<B>>>; unreadable: UnreadableRow[] }> {
    const unreadable: UnreadableRow[] = [];
    const rows = await readBucket(
      this.js,
      bucketNames(this.prefix)[b],
      BUCKETS[b].schema,
      filter,
      (key, error, revision) => {
        unreadable.push({ key, error, revision });
        this.reportMalformed(b, key, revision, error);
      },
    );
    const believed: Array<BucketRow<BucketValue<B>>> = [];
    for (const r of rows as Array<BucketRow<BucketValue<B>>>) {
      if (this.believable(b, r.key, r.value)) believed.push(r);
      else unreadable.push({ key: r.key, revision: r.revision, error: "its body names another key" });
    }
    return { rows: believed, unreadable };
  }

  /** Log a malformed value once per key revision, however many readers meet it. */
  reportMalformed(b: BucketKey, key: string, revision: number, error: string): void {
    if (this.reported.first(`${b}\u0000${key}\u0000${revision}`))
      this.log.warn("skipping malformed record", { bucket: b, key, revision, error });
  }

  /**
   * Read-modify-write with compare-and-set, retrying when another writer got there first.
   * `change` returns the new value, or null to leave the record as it is. Resolves to null when
   * there is no record; throws ContentionError once `attempts` writes have all lost. A value that
   * does not validate throws MalformedRecordError, unless `repair` (for the key's owner) gives
   * the value to write over it.
   */
  async modify<B extends BucketKey>(
    b: B,
    key: string,
    change: (current: BucketValue<B>) => BucketValue<B> | null,
    attempts = 10,
    repair?: (bad: MalformedRecordError) => BucketValue<B> | null,
  ): Promise<Entry<BucketValue<B>> | null> {
    for (let i = 0; i < attempts; i++) {
      let cur: Entry<BucketValue<B>> | null;
      try {
        cur = await this.get(b, key);
      } catch (e) {
        if (!(e instanceof MalformedRecordError) || !repair) throw e;
        const value = repair(e);
        if (value === null) throw e;
        try {
          const revision = await this.update(b, key, value, e.revision);
          this.log.warn("overwrote a malformed record", { bucket: b, key, error: e.reason });
          return { value, revision };
        } catch (w) {
          if (!isCasConflict(w)) throw w;
          continue;
        }
      }
      if (!cur) return null;
      const next = change(cur.value);
      if (next === null) return cur;
      try {
        const revision = await this.update(b, key, next, cur.revision);
        return { value: next, revision };
      } catch (e) {
        if (!isCasConflict(e)) throw e;
      }
    }
    throw new ContentionError(`${b}/${key}: gave up after ${attempts} concurrent updates`);
  }

  watch<B extends BucketKey>(
    b: B,
    onEvent: (e: WatchEvent<BucketValue<B>>) => void,
    opts: WatchOptions = {},
  ): Watcher {
    return watchBucket(
      this.js,
      bucketNames(this.prefix)[b],
      this.bucket(b),
      BUCKETS[b].schema,
      (e: WatchEvent<unknown>) => {
        if (e.type === "put" && !this.believable(b, e.key, e.value as BucketValue<B>)) return;
        (onEvent as (e: WatchEvent<unknown>) => void)(e);
      },
      {
        logger: this.log,
        closed: () => this.closing,
        ...opts,
        onReconnect:
          opts.resumeOnReconnect === false
            ? undefined
            : (restart) => {
                this.reconnectListeners.add(restart);
                return () => this.reconnectListeners.delete(restart);
              },
      },
    );
  }

  // ------------------------------------------------------------------ subjects

  private subscribeTyped<S extends z.ZodType>(
    subject: string,
    schema: S,
    handler: (v: z.infer<S>, subject: string) => void,
  ): Unsubscribe {
    const sub: Subscription = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        const d = decode(schema, msg.data);
        if (d.ok) handler(d.value, msg.subject);
        else this.log.warn("dropping malformed message", { subject: msg.subject, error: d.error });
      },
    });
    return () => sub.unsubscribe();
  }

  /**
   * Progress and heartbeats name their node in the subject and in the body: a message whose two
   * disagree (a node publishing for another, where permissions are not set up) is dropped.
   */
  private ownSubject(subject: string, expected: string, nodeId: string): boolean {
    if (subject === expected) return true;
    this.log.warn("dropping a message sent for another node", { subject, nodeId });
    return false;
  }

  onProgress(handler: (e: ProgressEvent) => void, nodeId?: string): Unsubscribe {
    const subject = nodeId ? this.subjects.progressOfNode(nodeId) : this.subjects.progressAll();
    return this.subscribeTyped(subject, ProgressEvent, (p, s) => {
      if (this.ownSubject(s, this.subjects.progress(p.nodeId, p.opId), p.nodeId)) handler(p);
    });
  }

  /** Audit events as the controller records them (a core subscription to the events stream's subjects). */
  onAuditEvent(handler: (e: AuditEvent) => void): Unsubscribe {
    return this.subscribeTyped(this.subjects.eventsAll(), AuditEvent, (e) => handler(e));
  }

  onHeartbeat(handler: (h: Heartbeat) => void): Unsubscribe {
    return this.subscribeTyped(this.subjects.heartbeatAll(), Heartbeat, (h, s) => {
      if (this.ownSubject(s, this.subjects.heartbeat(h.nodeId), h.nodeId)) handler(h);
    });
  }

  /** Each node hears the cancel signals for its own ops only. */
  onCancel(nodeId: string, handler: (s: CancelSignal) => void): Unsubscribe {
    return this.subscribeTyped(this.subjects.cancelOfNode(nodeId), CancelSignal, (c, s) => {
      if (this.ownSubject(s, this.subjects.cancel(c.nodeId, c.opId), c.nodeId)) handler(c);
    });
  }

  /** Validate against its schema, then publish (core NATS: fire and forget); refused values throw. */
  private publishTyped<S extends z.ZodType>(subject: string, schema: S, value: z.input<S>): void {
    const checked = validate(schema, value);
    if (!checked.ok) throw new Error(`not publishing an invalid message on ${subject}: ${checked.error}`);
    this.nc.publish(subject, encode(checked.value));
  }

  publishProgress(e: ProgressEvent): void {
    this.publishTyped(this.subjects.progress(e.nodeId, e.opId), ProgressEvent, e);
  }

  publishHeartbeat(h: Heartbeat): void {
    this.publishTyped(this.subjects.heartbeat(h.nodeId), Heartbeat, h);
  }

  publishCancel(c: CancelSignal): void {
    this.publishTyped(this.subjects.cancel(c.nodeId, c.opId), CancelSignal, c);
  }

  /** Unchecked publish of anything: for tests that play a misbehaving peer. Roles use the typed ones. */
  publish(subject: string, value: unknown): void {
    this.nc.publish(subject, encode(value));
  }

  /**
   * Answer requests on `subject` (a queue group shares them out, one replica each). `respond` is
   * absent when the sender asked for no reply. Subscription errors go to `onError`.
   */
  serve(
    subject: string,
    handler: (req: IncomingRequest) => void,
    opts: { queue?: string; onError?: (e: Error) => void } = {},
  ): Unsubscribe {
    const sub: Subscription = this.nc.subscribe(subject, {
      queue: opts.queue,
      callback: (err, msg) => {
        if (err) return opts.onError?.(err);
        const reply = msg.reply;
        handler({
          subject: msg.subject,
          data: msg.data,
          respond: reply ? (bytes) => void msg.respond(bytes) : undefined,
          header: (name) => msg.headers?.get(name) || undefined,
        });
      },
    });
    return () => sub.unsubscribe();
  }

  /** One request/reply round trip; rejects on timeout or when nobody serves the subject. */
  async request(subject: string, body: unknown, timeoutMs: number): Promise<Uint8Array> {
    return (await this.nc.request(subject, encode(body), { timeout: timeoutMs })).data;
  }

  /** The largest message the server accepts (its max_payload). */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /** Attach to (or create) a role-private bucket that is not part of the shared topology. */
  openPrivateBucket(name: string, opts: Partial<KvOptions>): Promise<KV> {
    return openOrCreate(this.jsm, new Kvm(this.nc), name, opts);
  }

  call<M extends ApiMethod>(
    method: M,
    req: ApiRequest<M>,
    timeoutMs?: number,
    opts?: CallOptions,
  ): Promise<ApiResult<M>> {
    const keyed =
      this.opts.keyWrites && API_WRITES.has(method) && opts?.idempotencyKey === undefined
        ? { ...opts, idempotencyKey: `k${randomUUID().replace(/-/g, "")}` }
        : opts;
    return callApi(this.nc, this.subjects, method, req, timeoutMs ?? this.opts.apiTimeoutMs, keyed, {
      onDisconnect: (l) => {
        this.disconnectListeners.add(l);
        return () => this.disconnectListeners.delete(l);
      },
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakeRetry?.();
    const c = this.conn;
    this.conn = undefined;
    if (c && !c.nc.isClosed()) await c.nc.drain().catch(() => c.nc.close());
    c?.pub.close();
    this.setStatus({ state: "closed" });
  }
}
