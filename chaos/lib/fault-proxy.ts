/**
 * A loopback HTTP proxy in front of a real registry that misbehaves per repository, the way
 * registries do: it hangs mid-blob, never answers a manifest, throttles (429/503 with
 * Retry-After) or fails (500). Like test/controller/holding-proxy.ts, which only holds HEADs.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  /** Send half of every big blob response, then nothing, with the connection open. */
  | { kind: "hang-blob" }
  /** Send the headers of every big blob response, then nothing, with the connection open. */
  | { kind: "dead-blob" }
  /** Never answer a manifest request. */
  | { kind: "hang-manifest" }
  /** Answer the first `times` requests of `on` with `status` and `Retry-After: seconds`. */
  | { kind: "status"; on: "manifest" | "blob"; status: number; times: number; retryAfterS?: number };

const BIG = 100_000;

export class FaultProxy {
  /** Requests seen per repository, by kind. */
  readonly seen = new Map<string, { manifest: number; blob: number }>();
  private constructor(
    private readonly server: Server,
    readonly host: string,
    private readonly target: string,
    private readonly faults: Map<string, Fault>,
  ) {}

  /** `faults`: repository (as in the image reference) -> what goes wrong there. */
  static async start(target: string, faults: Record<string, Fault>): Promise<FaultProxy> {
    const ref: { p?: FaultProxy } = {};
    const server = createServer((req, res) => ref.p!.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    ref.p = new FaultProxy(server, host, target, new Map(Object.entries(faults)));
    return ref.p;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(req.url ?? "");
    const repo = m?.[1];
    const what = m?.[2] === "manifests" ? "manifest" : m?.[2] === "blobs" ? "blob" : undefined;
    const fault = repo ? this.faults.get(repo) : undefined;
    if (repo && what) {
      const s = this.seen.get(repo) ?? { manifest: 0, blob: 0 };
      s[what]++;
      this.seen.set(repo, s);
      if (fault?.kind === "hang-manifest" && what === "manifest") return; // never answered
      if (fault?.kind === "status" && fault.on === what && s[what] <= fault.times) {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (fault.retryAfterS !== undefined) headers["retry-after"] = String(fault.retryAfterS);
        res.writeHead(fault.status, headers);
        res.end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "chaos" }] }));
        return;
      }
    }
    const [hostname, port] = this.target.split(":");
    const up = request(
      {
        hostname,
        port: Number(port),
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: this.target },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        const size = Number(r.headers["content-length"] ?? 0);
        if (fault?.kind === "dead-blob" && what === "blob" && req.method === "GET" && size > BIG) {
          r.pause();
          return;
        }
        if (fault?.kind === "hang-blob" && what === "blob" && req.method === "GET" && size > BIG) {
          let sent = 0;
          r.on("data", (chunk: Buffer) => {
            if (sent >= size / 2) return r.pause();
            res.write(chunk);
            sent += chunk.length;
          });
          return;
        }
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
