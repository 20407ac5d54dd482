import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Credentials } from "../../src/oci/auth.js";
import { basicHeader } from "../../src/oci/auth.js";

export interface SeenRequest {
  method: string;
  url: string;
  /** When the proxy received it (Date.now()). */
  at?: number;
  range?: string;
  authorization?: string;
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

/**
 * Cut a response body once `absoluteLimit` bytes of the resource have gone out: drop the
 * connection, or (`stall`) keep it open and send nothing more until the client hangs up.
 */
function pipeCut(
  up: IncomingMessage,
  res: ServerResponse,
  offset: number,
  absoluteLimit: number | undefined,
  onCut: () => void,
  onBytes: (n: number) => void = () => {},
  stall = false,
): void {
  let pos = offset;
  up.on("data", (chunk: Buffer) => {
    if (absoluteLimit !== undefined && pos + chunk.length > absoluteLimit) {
      const keep = Math.max(0, absoluteLimit - pos);
      if (keep > 0) res.write(chunk.subarray(0, keep));
      onBytes(keep);
      pos += keep;
      onCut();
      up.destroy();
      if (!stall) res.socket?.destroy();
      return;
    }
    pos += chunk.length;
    onBytes(chunk.length);
    res.write(chunk);
  });
  up.on("end", () => res.end());
  up.on("error", () => res.socket?.destroy());
}

const rangeStart = (h?: string) => Number(/bytes=(\d+)-/.exec(h ?? "")?.[1] ?? 0);

export interface ProxyFaults {
  /** Drop blob responses once this many bytes of the blob have been sent... */
  dropBlobAt?: number;
  /** ...this many times (Infinity: always). */
  drops?: number;
  /** Answer blob GETs with a 307 to the CDN server (another loopback address). */
  redirect?: boolean;
  /** Follow every manifest GET's body with this many spaces (still valid JSON), sent chunked. */
  padManifests?: number;
  /** Stop sending blob responses (connection kept open, silent) once this many bytes went out... */
  stallBlobAt?: number;
  /** ...this many times (Infinity: always). */
  stalls?: number;
  /** Never answer manifest requests (GET and HEAD). */
  hangManifests?: boolean;
  /** Answer the next `times` requests whose path contains `/<on>/` with `status` (and Retry-After). */
  refuse?: { on: "manifests" | "blobs"; status: number; retryAfter?: string; times: number };
}

/**
 * Send `body` then `pad` spaces, chunked, honouring backpressure, until done or the client hangs
 * up; returns the bytes handed to the socket.
 */
async function sendPadded(res: ServerResponse, body: Buffer, pad: number): Promise<number> {
  let sent = 0;
  let closed = false;
  res.once("close", () => (closed = true));
  const piece = Buffer.alloc(64 * 1024, 0x20);
  const write = async (b: Buffer) => {
    sent += b.length;
    if (!res.write(b)) {
      await new Promise<void>((r) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          r();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  };
  await write(body);
  for (let left = pad; left > 0 && !closed; left -= piece.length) {
    await write(left >= piece.length ? piece : piece.subarray(0, left));
  }
  if (!closed) res.end();
  return sent;
}

/**
 * A tiny reverse proxy in front of the real registry that can drop connections mid-blob and send
 * blob downloads to a "CDN" on 127.0.0.2, recording every request it sees.
 */
export class RegistryProxy {
  readonly seen: SeenRequest[] = [];
  readonly cdnSeen: SeenRequest[] = [];
  faults: ProxyFaults = {};
  dropped = 0;
  stalled = 0;
  refused = 0;
  /** Bytes of blob bodies sent to clients. */
  blobBytesSent = 0;
  /** Bytes of padded manifest bodies handed to clients (counted when each response has ended). */
  manifestBytesSent = 0;
  /** Padded manifest responses still being sent, and those that have ended. */
  manifestsSending = 0;
  manifestsSent = 0;

  /** The padded bytes sent since `before`, once a padded response has ended and none is left. */
  manifestBytesSentSince(before: { bytes: number; sent: number }): number | undefined {
    return this.manifestsSending === 0 && this.manifestsSent > before.sent
      ? this.manifestBytesSent - before.bytes
      : undefined;
  }

  manifestMark(): { bytes: number; sent: number } {
    return { bytes: this.manifestBytesSent, sent: this.manifestsSent };
  }
  private constructor(
    private readonly server: Server,
    private readonly cdn: Server,
    readonly host: string,
    readonly cdnHost: string,
  ) {}

  static async start(upstream: string, upstreamAuth?: Credentials): Promise<RegistryProxy> {
    const [uh, up] = upstream.split(":");
    const forward = (
      method: string,
      path: string,
      headers: Record<string, string | string[] | undefined>,
      cb: (r: IncomingMessage) => void,
      onError: () => void,
    ) => {
      const req = request(
        { host: uh, port: Number(up), method, path, headers: { ...headers, host: upstream } },
        cb,
      );
      req.on("error", onError);
      return req;
    };
    const self: { proxy?: RegistryProxy } = {};
    const cdn = createServer((req, res) => {
      const proxy = self.proxy!;
      proxy.cdnSeen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        range: req.headers.range,
        authorization: req.headers.authorization,
      });
      const path = new URL(req.url ?? "/", "http://x").searchParams.get("path") ?? "/";
      const headers: Record<string, string> = {};
      if (req.headers.range) headers.range = req.headers.range;
      if (upstreamAuth) headers.authorization = basicHeader(upstreamAuth);
      forward(
        "GET",
        path,
        headers,
        (u) => {
          res.writeHead(u.statusCode ?? 502, u.headers);
          u.pipe(res);
        },
        () => res.socket?.destroy(),
      ).end();
    });
    const server = createServer((req, res) => {
      const proxy = self.proxy!;
      const url = req.url ?? "/";
      proxy.seen.push({
        method: req.method ?? "",
        url,
        at: Date.now(),
        range: req.headers.range,
        authorization: req.headers.authorization,
      });
      const isBlob = req.method === "GET" && /\/blobs\/sha256:/.test(url);
      const f = proxy.faults;
      if (f.hangManifests && /\/manifests\//.test(url)) return; // no answer, ever
      if (f.refuse && f.refuse.times > 0 && url.includes(`/${f.refuse.on}/`)) {
        f.refuse.times--;
        proxy.refused++;
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (f.refuse.retryAfter !== undefined) headers["retry-after"] = f.refuse.retryAfter;
        res.writeHead(f.refuse.status, headers).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
        return;
      }
      if (isBlob && f.redirect) {
        res.writeHead(307, {
          location: `http://${proxy.cdnHost}/blob?path=${encodeURIComponent(url)}&sig=x`,
        });
        res.end();
        return;
      }
      const padded = req.method === "GET" && /\/manifests\//.test(url) && f.padManifests !== undefined;
      const upReq = forward(
        req.method ?? "GET",
        url,
        req.headers,
        (u) => {
          if (padded) {
            const chunks: Buffer[] = [];
            u.on("data", (c: Buffer) => chunks.push(c));
            u.on("end", () => {
              const headers = { ...u.headers };
              delete headers["content-length"];
              res.writeHead(u.statusCode ?? 502, headers);
              proxy.manifestsSending++;
              void sendPadded(res, Buffer.concat(chunks), f.padManifests!).then((n) => {
                proxy.manifestBytesSent += n;
                proxy.manifestsSending--;
                proxy.manifestsSent++;
              });
            });
            return;
          }
          res.writeHead(u.statusCode ?? 502, u.headers);
          const stall =
            isBlob && f.stallBlobAt !== undefined && proxy.stalled < (f.stalls ?? 1)
              ? f.stallBlobAt
              : undefined;
          const cut =
            isBlob && f.dropBlobAt !== undefined && proxy.dropped < (f.drops ?? 1) ? f.dropBlobAt : undefined;
          pipeCut(
            u,
            res,
            rangeStart(req.headers.range),
            stall ?? cut,
            () => (stall !== undefined ? proxy.stalled++ : proxy.dropped++),
            (n) => {
              if (isBlob) proxy.blobBytesSent += n;
            },
            stall !== undefined,
          );
        },
        () => res.socket?.destroy(),
      );
      req.pipe(upReq);
    });
    const port = await listen(server, "127.0.0.1");
    const cdnPort = await listen(cdn, "127.0.0.2");
    self.proxy = new RegistryProxy(server, cdn, `127.0.0.1:${port}`, `127.0.0.2:${cdnPort}`);
    return self.proxy;
  }

  blobGets(): SeenRequest[] {
    return this.seen.filter((r) => r.method === "GET" && r.url.includes("/blobs/"));
  }

  async dispose(): Promise<void> {
    await Promise.all([close(this.server), close(this.cdn)]);
  }
}

/** Serves one file over HTTP with Range support; can drop the connection once mid-body. */
export class FileServer {
  readonly seen: SeenRequest[] = [];
  dropAt?: number;
  drops = 0;
  private constructor(
    private readonly server: Server,
    readonly base: string,
    private readonly files: Map<string, Buffer>,
  ) {}

  static async start(): Promise<FileServer> {
    const files = new Map<string, Buffer>();
    const self: { fs?: FileServer } = {};
    const server = createServer((req, res) => {
      const fs = self.fs!;
      fs.seen.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range });
      const body = files.get(req.url ?? "");
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      const start = rangeStart(req.headers.range);
      const headers = { "content-length": String(body.length - start), "accept-ranges": "bytes" };
      if (req.headers.range) {
        res.writeHead(206, {
          ...headers,
          "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
        });
      } else {
        res.writeHead(200, headers);
      }
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      if (fs.dropAt !== undefined && fs.drops === 0 && start < fs.dropAt) {
        fs.drops++;
        res.write(body.subarray(start, fs.dropAt), () => res.socket?.destroy());
        return;
      }
      res.end(body.subarray(start));
    });
    const port = await listen(server, "127.0.0.1");
    self.fs = new FileServer(server, `http://127.0.0.1:${port}`, files);
    return self.fs;
  }

  serve(path: string, body: Buffer): string {
    this.files.set(path, body);
    return `${this.base}${path}`;
  }

  async dispose(): Promise<void> {
    await close(this.server);
  }
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/**
 * A registry on loopback serving one single-layer image (`<host>/img:1`), without docker-registry:
 * blob GETs are recorded, and `rangeShift` makes a Range answer (206) start that many bytes off
 * from the byte asked for (a misbehaving registry). The blob is sent in two writes a tick apart,
 * so a concurrent request overlaps it.
 */
export class OciServer {
  readonly seen: SeenRequest[] = [];
  rangeShift = 0;
  readonly layerDigest: string;
  readonly manifestDigest: string;
  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly layer: Buffer,
    manifest: Buffer,
  ) {
    this.layerDigest = sha256(layer);
    this.manifestDigest = sha256(manifest);
  }

  static async start(layer: Buffer): Promise<OciServer> {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: sha256(Buffer.from("{}")),
          size: 2,
        },
        layers: [
          {
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            digest: sha256(layer),
            size: layer.length,
          },
        ],
      }),
    );
    const self: { s?: OciServer } = {};
    const server = createServer((req, res) => {
      const s = self.s!;
      s.seen.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range });
      if (req.url === "/v2/img/manifests/1") {
        res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(manifest);
      } else if (req.url === `/v2/img/blobs/${s.layerDigest}`) {
        const start = req.headers.range ? rangeStart(req.headers.range) + s.rangeShift : 0;
        if (req.headers.range) {
          res.writeHead(206, { "content-range": `bytes ${start}-${layer.length - 1}/${layer.length}` });
        } else {
          res.writeHead(200, { "content-length": String(layer.length) });
        }
        const half = start + Math.floor((layer.length - start) / 2);
        res.write(layer.subarray(start, half), () => setImmediate(() => res.end(layer.subarray(half))));
      } else {
        res.writeHead(404).end();
      }
    });
    const port = await listen(server, "127.0.0.1");
    self.s = new OciServer(server, `127.0.0.1:${port}`, layer, manifest);
    return self.s;
  }

  get ref(): string {
    return `${this.host}/img:1`;
  }

  blobGets(): SeenRequest[] {
    return this.seen.filter((r) => r.url.includes("/blobs/"));
  }

  async dispose(): Promise<void> {
    await close(this.server);
  }
}
