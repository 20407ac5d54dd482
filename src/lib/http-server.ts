import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { errorMessage } from "./log.js";
import { parseListen } from "./net.js";

/** How often Node looks for requests past their timeout (its default, 30 s, would void a 5 s one). */
const TIMEOUT_CHECK_MS = 500;

export interface HttpListener {
  server: Server;
  /** The bound address and port (the port the kernel picked for `:0`). */
  host: string;
  port: number;
  url: string;
}

/**
 * An HTTP server on `listen` (`host:port`, `[v6]:port`) whose requests must send their headers
 * and body within `requestTimeoutMs`: a client that sends a byte and then nothing is cut off with
 * a 408, whatever the body's announced length. A bind that fails says why in words (port in use,
 * address not on this host, permission denied).
 */
export async function listenHttp(
  listen: string,
  handler: RequestListener,
  o: { requestTimeoutMs: number; upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void },
): Promise<HttpListener> {
  const { host, port } = parseListen(listen);
  const server = createServer(
    {
      headersTimeout: o.requestTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, o.requestTimeoutMs),
    },
    handler,
  );
  if (o.upgrade) server.on("upgrade", o.upgrade);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(listenError(listen, e)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return { server, host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
}

function listenError(listen: string, e: NodeJS.ErrnoException): Error {
  const why =
    e.code === "EADDRINUSE"
      ? "the port is in use"
      : e.code === "EADDRNOTAVAIL"
        ? "the address is not on this host"
        : e.code === "EACCES"
          ? "permission denied"
          : errorMessage(e);
  return new Error(`cannot serve HTTP on ${listen}: ${why} (${e.code ?? "error"})`);
}

/** Stop `server`: open connections (keep-alive ones included) are closed, not waited for. */
export async function closeHttp(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
