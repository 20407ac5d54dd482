import * as grpc from "@grpc/grpc-js";

/**
 * The one method of LocalAI's `backend.Backend` service (backend/backend.proto) the agent uses:
 * `rpc Health(HealthMessage) returns (Reply)`. `HealthMessage` is empty and `Reply.message` is
 * field 1 (bytes), so both are encoded by hand instead of loading the whole .proto.
 */
export const HEALTH_PATH = "/backend.Backend/Health";

export interface HealthReply {
  message: string;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** `Reply { message: <message> }` on the wire. */
export function encodeReply(r: HealthReply): Buffer {
  const body = Buffer.from(r.message, "utf8");
  return Buffer.concat([Buffer.from([0x0a]), varint(body.length), body]);
}

/** Read `Reply.message` and skip every other field (LocalAI's Reply has many). */
export function decodeReply(buf: Buffer): HealthReply {
  let i = 0;
  let message = "";
  const readVarint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated protobuf varint");
      const b = buf[i++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error("protobuf varint too long");
    }
  };
  while (i < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) readVarint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = readVarint();
      if (i + len > buf.length) throw new Error("truncated protobuf field");
      if (field === 1) message = buf.subarray(i, i + len).toString("utf8");
      i += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  if (i > buf.length) throw new Error("truncated protobuf field");
  return { message };
}

/** The Health method as a grpc-js service definition, for clients and for the demo's servers. */
export const healthService = {
  Health: {
    path: HEALTH_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (): Buffer => Buffer.alloc(0),
    requestDeserialize: (): Record<string, never> => ({}),
    responseSerialize: encodeReply,
    responseDeserialize: decodeReply,
  },
} satisfies grpc.ServiceDefinition;

/** Call Health once; resolves with `Reply.message`, rejects with the gRPC error. */
export function callHealth(client: grpc.Client, deadline: number): Promise<string> {
  const m = healthService.Health;
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      {},
      new grpc.Metadata(),
      { deadline },
      (err, reply) => (err || !reply ? reject(err ?? new Error("empty reply")) : resolve(reply.message)),
    );
  });
}

/** Wait until the channel is connected (something listens and speaks HTTP/2), or the deadline. */
export function waitForReady(client: grpc.Client, deadline: number): Promise<boolean> {
  return new Promise((resolve) => client.waitForReady(deadline, (err) => resolve(!err)));
}

export function healthClient(addr: string): grpc.Client {
  return new grpc.Client(addr, grpc.credentials.createInsecure(), {
    // A backend starting up refuses connections for a while: retry quickly, not after grpc's 1 s.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 500,
  });
}
