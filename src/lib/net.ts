import { createServer } from "node:net";

/** Ask the kernel for a free loopback port (used only where a server cannot report its own). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

/** A bind address (no port) that only this host can reach: `localhost`, `::1`, 127.x.x.x. */
export function isLoopbackAddress(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `host:port` (`[v6]:port` for IPv6) as `--http` takes it; port 0 picks a free one. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen.trim());
  if (!m) throw new Error(`--http must be host:port, got ${JSON.stringify(listen)}`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--http port out of range: ${port}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}
