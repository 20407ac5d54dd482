import { BlockList, createServer, isIP } from "node:net";

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

/**
 * The name or address in a `Host` header, a bind address or a registry's `host:port`, lower-case:
 * `[::1]:80` -> `::1`, a bare IPv6 address stays whole, `Name.:80` -> `name`.
 */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(h);
  if (bracketed) return bracketed[1]!;
  const name = h.split(":").length === 2 ? h.slice(0, h.lastIndexOf(":")) : h;
  return name.replace(/\.$/, "");
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * Whether `host` (bare or bracketed, with or without `:port`) is this machine only: `localhost`,
 * 127.0.0.0/8, `::1`, or 127.x mapped into IPv6 (`::ffff:127.0.0.1`). The one test for binds
 * without a token, `Host` headers on a loopback listener, and registries allowed plain HTTP.
 */
export function isLoopbackHost(host: string): boolean {
  const h = hostName(host).replace(/%.*$/, ""); // a zone (`::1%lo`) names the interface only
  if (h === "localhost") return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? "ipv4" : "ipv6");
}

/** `host:port` (`[v6]:port` for IPv6) as `--http` takes it; port 0 picks a free one. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen.trim());
  if (!m) throw new Error(`--http must be host:port, got ${JSON.stringify(listen)}`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--http port out of range: ${port}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}
