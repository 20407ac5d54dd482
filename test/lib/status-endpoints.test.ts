import { request } from "node:http";
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/lib/log.js";
import {
  CHECK_TIMEOUT_MS,
  readiness,
  StatusServer,
  statusListenProblem,
} from "../../src/lib/status-endpoints.js";

/** A raw request, so that Host and the method can be anything. */
function raw(
  url: string,
  o: { method?: string; host?: string; token?: string } = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: o.method ?? "GET",
        headers: {
          host: o.host ?? u.host,
          ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const servers: StatusServer[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(
  token?: string,
  o: { listen?: string; requestTimeoutMs?: number } = {},
): Promise<string> {
  const registry = new Registry();
  new Counter({ name: "t_things_total", help: "things", registers: [registry] }).inc(3);
  const s = new StatusServer({
    listen: o.listen ?? "127.0.0.1:0",
    requestTimeoutMs: o.requestTimeoutMs,
    token,
    registry,
    checks: [{ name: "disk", check: () => undefined }],
    log: silentLogger,
  });
  servers.push(s);
  return (await s.start()).url;
}

describe("readiness", () => {
  it("names each failing check with its reason, a throw and a hang included", async () => {
    vi.useFakeTimers();
    const pending = readiness([
      { name: "ok", check: () => undefined },
      { name: "nats", check: () => "NATS is reconnecting" },
      { name: "boom", check: () => Promise.reject(new Error("no such dir")) },
      { name: "stuck", check: () => new Promise<undefined>(() => {}) },
    ]);
    await vi.advanceTimersByTimeAsync(CHECK_TIMEOUT_MS + 1);
    expect(await pending).toEqual({
      ready: false,
      checks: [
        { name: "ok", ok: true },
        { name: "nats", ok: false, reason: "NATS is reconnecting" },
        { name: "boom", ok: false, reason: "no such dir" },
        { name: "stuck", ok: false, reason: `no answer within ${CHECK_TIMEOUT_MS} ms` },
      ],
    });
  });
});

describe("StatusServer", () => {
  it("serves the three paths by GET only; /metrics with the token when there is one", async () => {
    const base = await serve("s3cret-token");
    expect(await raw(`${base}/healthz`)).toEqual({ status: 200, body: "ok\n" });
    const ready = await raw(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true, checks: [{ name: "disk", ok: true }] });
    expect((await raw(`${base}/metrics`)).status).toBe(401);
    expect((await raw(`${base}/metrics`, { token: "wrong" })).status).toBe(401);
    const m = await raw(`${base}/metrics`, { token: "s3cret-token" });
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^t_things_total 3$/m);
    expect((await raw(`${base}/`)).status).toBe(404);
    expect((await raw(`${base}/metrics/x`)).status).toBe(404);
    expect((await raw(`${base}/healthz`, { method: "POST" })).status).toBe(405);
    expect((await raw(`${base}/healthz`, { method: "DELETE" })).status).toBe(405);
  });

  it("on loopback without a token: /metrics is open, but only to a loopback Host", async () => {
    const base = await serve();
    expect((await raw(`${base}/metrics`)).status).toBe(200);
    expect((await raw(`${base}/metrics`, { host: `localhost:${new URL(base).port}` })).status).toBe(200);
    // A page whose name was made to resolve to 127.0.0.1 (DNS rebinding) reads nothing.
    expect((await raw(`${base}/metrics`, { host: "evil.example:80" })).status).toBe(421);
  });

  it("refuses a bind beyond loopback without a token", async () => {
    expect(statusListenProblem("0.0.0.0:9464", undefined)).toMatch(/without a token/);
    expect(statusListenProblem("10.1.2.3:9464", undefined)).toMatch(/without a token/);
    expect(statusListenProblem("0.0.0.0:9464", "t")).toBeUndefined();
    expect(statusListenProblem("127.0.0.1:9464", undefined)).toBeUndefined();
    expect(statusListenProblem("[::1]:9464", undefined)).toBeUndefined();
    expect(statusListenProblem("9464", undefined)).toMatch(/host:port/);
    const s = new StatusServer({
      listen: "0.0.0.0:0",
      registry: new Registry(),
      checks: [],
      log: silentLogger,
    });
    await expect(s.start()).rejects.toThrow(/refusing to serve \/metrics on 0\.0\.0\.0/);
  });

  it("says a port in use is in use, as the controller's listener does", async () => {
    const busy = createTcpServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as AddressInfo).port;
    try {
      await expect(serve(undefined, { listen: `127.0.0.1:${port}` })).rejects.toThrow(
        `cannot serve HTTP on 127.0.0.1:${port}: the port is in use (EADDRINUSE)`,
      );
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it("cuts off a client whose headers do not arrive within requestTimeoutMs with a 408", async () => {
    const base = new URL(await serve(undefined, { requestTimeoutMs: 300 }));
    const reply = await new Promise<string>((resolve, reject) => {
      let got = "";
      const s = tcpConnect(Number(base.port), base.hostname, () =>
        s.write(`GET /healthz HTTP/1.1\r\nhost: ${base.host}\r\n`),
      );
      // Node's own check runs every 30 s unless told otherwise: that is the failure this catches.
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`still open after 10 s; got ${JSON.stringify(got)}`));
      }, 10_000);
      s.on("data", (d) => (got += String(d)));
      s.on("error", () => {});
      s.on("close", () => {
        clearTimeout(t);
        resolve(got);
      });
    });
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
  }, 15_000);
});
