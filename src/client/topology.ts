import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { Kvm, type KV, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  BUCKET_KEYS,
  BUCKETS,
  bucketNames,
  AUDIT_EVENT_MAX_BYTES,
  EVENTS_MAX_AGE_MS,
  LEASE_TTL_MS,
  REQUEST_DEDUPE_TTL_MS,
  streamNames,
  Subjects,
  type BucketKey,
  type BucketKv,
} from "../protocol/index.js";
import { errorMessage } from "../lib/log.js";
import {
  isStorageExceeded,
  isStreamNameInUse,
  isStreamNotFound,
  jsErrorCode,
  JsErrorCode,
} from "./errors.js";

export interface TopologyOptions {
  prefix: string;
  /** JetStream replicas for every bucket and stream: 1 on a single server, 3 or 5 on a cluster. */
  replicas: number;
  /** Lease bucket TTL; a leader that stops renewing loses its lease after this long. */
  leaseTtlMs?: number;
  /**
   * Size cap of the audit stream (JetStream reserves it up front). When set, an existing stream
   * with another cap is changed to it, whoever created it; unset, 1 GiB applies on creation only.
   */
  eventsMaxBytes?: number;
  /**
   * Attach to the buckets and streams without asking for their state: deploy/nats-server.conf
   * does not let an agent read stream info (it would list every node's op keys), only its own
   * work consumer, which tells whether the work stream exists yet (it is made after the buckets).
   * When it does not (no controller has run), the topology is created as usual. Record reads are
   * then direct gets.
   */
  attachOnly?: { workConsumer: string };
}

export const EVENTS_MAX_BYTES = 1024 ** 3;

/** A bucket's KV options, as its row in the bucket table says, for this role's topology. */
function bucketOptions(key: BucketKey, o: TopologyOptions): Partial<KvOptions> {
  const kv: BucketKv = BUCKETS[key].kv;
  return {
    replicas: o.replicas,
    storage: StorageType.File,
    history: kv.history,
    ...(kv.ttl === "lease" ? { ttl: o.leaseTtlMs ?? LEASE_TTL_MS } : {}),
    ...(kv.ttl === "requests" ? { ttl: REQUEST_DEDUPE_TTL_MS } : {}),
    ...(kv.maxValueBytes !== undefined ? { maxValueSize: kv.maxValueBytes } : {}),
  };
}

export function streamConfigs(o: TopologyOptions): StreamConfig[] {
  const names = streamNames(o.prefix);
  const subjects = new Subjects(o.prefix);
  const nanos = (ms: number) => ms * 1_000_000;
  return [
    {
      name: names.work,
      subjects: [subjects.workAll()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: o.replicas,
      duplicate_window: nanos(120_000),
      discard: DiscardPolicy.Old,
      max_msg_size: 64 * 1024,
    } as StreamConfig,
    {
      name: names.events,
      subjects: [subjects.eventsAll()],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      max_age: nanos(EVENTS_MAX_AGE_MS),
      max_bytes: o.eventsMaxBytes ?? EVENTS_MAX_BYTES,
      discard: DiscardPolicy.Old,
      max_msg_size: AUDIT_EVENT_MAX_BYTES,
    } as StreamConfig,
  ];
}

/**
 * Create every bucket and stream, or attach to them if they exist. A role without permission to
 * create (an agent confined to its own keys) attaches only.
 */
export async function ensureTopology(
  nc: NatsConnection,
  o: TopologyOptions,
): Promise<{ jsm: JetStreamManager; buckets: Record<BucketKey, KV> }> {
  const names = bucketNames(o.prefix);
  const keys = BUCKET_KEYS;
  if (o.attachOnly) {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    if (await workStreamExists(jsm, streamNames(o.prefix).work, o.attachOnly.workConsumer)) {
      const kvm = new Kvm(nc);
      // Buckets are created with allow_direct (the KV default since server 2.9).
      const kvs = await Promise.all(keys.map((key) => kvm.open(names[key], { allow_direct: true })));
      const buckets = Object.fromEntries(keys.map((key, i) => [key, kvs[i]!])) as Record<BucketKey, KV>;
      return { jsm, buckets };
    }
  }
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  // Independent of each other: one round trip's wait for all of them, not one each. The work
  // stream comes last: an agent that attaches only (see attachOnly) takes it as the sign that the
  // buckets are there too.
  const work = streamNames(o.prefix).work;
  const configs = streamConfigs(o);
  const stream = (cfg: StreamConfig) =>
    ensureStream(jsm, cfg, cfg.name === streamNames(o.prefix).events && o.eventsMaxBytes !== undefined);
  const [, kvs] = await Promise.all([
    Promise.all(configs.filter((cfg) => cfg.name !== work).map(stream)),
    Promise.all(keys.map((key) => openOrCreate(jsm, kvm, names[key], bucketOptions(key, o)))),
  ]);
  await Promise.all(configs.filter((cfg) => cfg.name === work).map(stream));
  const buckets = Object.fromEntries(keys.map((key, i) => [key, kvs[i]!])) as Record<BucketKey, KV>;
  return { jsm, buckets };
}

/** Whether the work stream exists, asked through the one consumer a confined role may inspect. */
async function workStreamExists(jsm: JetStreamManager, stream: string, consumer: string): Promise<boolean> {
  try {
    await jsm.consumers.info(stream, consumer);
    return true;
  } catch (e) {
    if (jsErrorCode(e) === JsErrorCode.ConsumerNotFound) return true;
    if (isStreamNotFound(e)) return false;
    throw e;
  }
}

/** Create a stream, or attach to it; `ownSize`: make an existing stream's max_bytes `cfg`'s. */
async function ensureStream(jsm: JetStreamManager, cfg: StreamConfig, ownSize: boolean): Promise<void> {
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(cfg.name);
  } catch (e) {
    if (!isStreamNotFound(e)) throw e;
  }
  if (!existing) return createStream(jsm, cfg);
  const was = existing.config.max_bytes;
  if (!ownSize || was === cfg.max_bytes) return;
  try {
    await jsm.streams.update(cfg.name, { max_bytes: cfg.max_bytes });
  } catch (e) {
    throw new Error(
      `cannot change stream ${cfg.name} from ${was} to ${cfg.max_bytes} bytes: ${errorMessage(e)}`,
    );
  }
}

async function createStream(jsm: JetStreamManager, cfg: StreamConfig): Promise<void> {
  try {
    await jsm.streams.add(cfg);
  } catch (e) {
    // Another replica won the race to create it.
    if (isStreamNameInUse(e)) return;
    if (isStorageExceeded(e) && cfg.max_bytes > 0) {
      throw new Error(
        `cannot create stream ${cfg.name} of ${cfg.max_bytes} bytes: ${errorMessage(e)} ` +
          "(JetStream reserves a stream's size up front; lower the controller's --events-max-bytes or raise the server's max_file_store)",
      );
    }
    throw e;
  }
}

/** Attach to a KV bucket, creating it if it does not exist (another replica may win that race). */
export async function openOrCreate(
  jsm: JetStreamManager,
  kvm: Kvm,
  name: string,
  opts: Partial<KvOptions>,
): Promise<KV> {
  // Kvm.open() binds lazily and does not notice a missing bucket, so ask for its stream first.
  try {
    await jsm.streams.info(`KV_${name}`);
    return await kvm.open(name);
  } catch (e) {
    if (!isStreamNotFound(e)) throw e;
  }
  try {
    return await kvm.create(name, opts);
  } catch (e) {
    if (!isStreamNameInUse(e)) throw e;
    return kvm.open(name);
  }
}
