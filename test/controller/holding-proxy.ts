import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback HTTP proxy in front of the real registry that can hold manifest HEADs until
 * released: a slow registry on demand, so a test can kill a controller in the middle of a check.
 */
export class HoldingProxy {
  heads = 0;
  holding = false;
  private held: Array<() => void> = [];
  private constructor(
    private readonly server: Server,
    readonly host: string,
  ) {}

  static async start(target: string): Promise<HoldingProxy> {
    const ref: { proxy?: HoldingProxy } = {};
    const server = createServer((req, res) => ref.proxy!.handle(req, res, target));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    ref.proxy = new HoldingProxy(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return ref.proxy;
  }

  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  private handle(req: IncomingMessage, res: ServerResponse, target: string): void {
    const forward = () => {
      const [hostname, port] = target.split(":");
      const up = request(
        {
          hostname,
          port: Number(port),
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: target },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    if (req.method === "HEAD") this.heads++;
    if (req.method === "HEAD" && this.holding) this.held.push(forward);
    else forward();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
