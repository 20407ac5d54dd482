import { chmod, lstat, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { defaultHttpTokenFile, ensureHttpToken, readHttpToken } from "../../src/lib/http-token.js";
import { telemetryOf } from "../../src/lib/telemetry.js";
import { SCHEMA_VERSION, type ProgressEvent } from "../../src/protocol/index.js";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { stopProcess, waitFor } from "../harness/proc.js";
import { FakeNode } from "./fake-node.js";
import { connect, controllerSuite, startReplica, uniquePrefix, waitLeader } from "./cluster.js";
import type { ControllerOptions } from "../../src/controller/controller.js";
import { captureLog } from "../harness/capture-log.js";

/**
 * Issue 11 §3: no web page and no other local user can drive the HTTP API. Every test talks to
 * the real listener of a real controller (in process, or the `backplane controller` binary).
 */

const suite = controllerSuite("http-security", {
  gallery: "- name: bar\n  uri: 127.0.0.1:5999/bar:latest\n",
});

/** A logger that keeps every line as `msg` plus fields, for assertions on what was logged. */

async function setup(http: Partial<NonNullable<ControllerOptions["http"]>> = {}) {
  const prefix = uniquePrefix();
  const tokenFile = join(suite.dir, prefix, "backplane", "http-token");
  const log = captureLog();
  const r = await startReplica(suite.nats.url, prefix, {
    galleryPath: suite.galleryPath,
    http: { listen: "127.0.0.1:0", tokenFile, ...http },
    telemetry: telemetryOf(log.logger),
  });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const node = new FakeNode(client, { nodeId: "n1", behave: () => "hang" });
  await node.start();
  suite.defer(() => node.stop());
  await waitFor("n1 registered", () => client.get("nodes", "n1"));
  const url = new URL(r.ctl.httpUrl!);
  const token = http.token ?? (await readHttpToken(tokenFile)) ?? "";
  return { prefix, r, client, url, port: Number(url.port), token, tokenFile, log };
}

interface Reply {
  status: number;
  body: string;
}

/** A request with exactly these headers (fetch would not let a test set Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The status a WebSocket handshake ends with: 101 when it opened (the socket is then closed). */
function wsStatus(url: string, o: { headers?: Record<string, string>; localAddress?: string } = {}) {
  return new Promise<{ status: number; ws?: WebSocket; messages: string[] }>((resolve, reject) => {
    const ws = new WebSocket(url, o);
    const messages: string[] = [];
    ws.on("message", (m) => messages.push(String(m)));
    ws.on("unexpected-response", (_q, res) => {
      resolve({ status: res.statusCode ?? 0, messages });
      ws.terminate();
    });
    ws.on("open", () => resolve({ status: 101, ws, messages }));
    ws.on("error", (e) => reject(e));
  });
}

const nodeStatus = async (c: Awaited<ReturnType<typeof setup>>["client"]) =>
  (await c.get("nodes", "n1"))?.value.status;

describe("a token is always required", () => {
  it("without --token the controller generates one into a 0600 file, logs where, and requires it", async () => {
    const { port, tokenFile, log, url } = await setup();
    const st = await lstat(tokenFile);
    expect(st.mode & 0o777).toBe(0o600);
    expect((await lstat(join(tokenFile, ".."))).mode & 0o777).toBe(0o700);
    const token = (await readFile(tokenFile, "utf8")).trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(log.lines).toContainEqual(
      expect.objectContaining({ msg: "HTTP token generated", file: tokenFile }),
    );
    expect(JSON.stringify(log.lines)).not.toContain(token);

    const host = url.host;
    expect((await raw(port, "GET", "/api/nodes", { host })).status).toBe(401);
    const drain = await raw(
      port,
      "POST",
      "/api/nodes/n1/drain",
      { host, "content-type": "application/json" },
      "{}",
    );
    expect(drain.status).toBe(401);
    const ok = await raw(port, "GET", "/api/nodes", { host, authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
  });

  it("a replica restarting on the host reuses the file's token; an untrustworthy file is replaced", async () => {
    const dir = join(suite.dir, "tokens");
    const file = join(dir, "http-token");
    const first = await ensureHttpToken(file);
    expect(first.generated).toBe(true);
    expect(await ensureHttpToken(file)).toEqual({ token: first.token, generated: false });
    expect(await readHttpToken(file)).toBe(first.token);

    // Readable by others: someone else may know it, so it is replaced by a fresh private one.
    await chmod(file, 0o644);
    const second = await ensureHttpToken(file);
    expect(second.generated).toBe(true);
    expect(second.token).not.toBe(first.token);
    expect((await lstat(file)).mode & 0o777).toBe(0o600);

    // A symlink planted where the token goes is replaced, not followed.
    const elsewhere = join(suite.dir, "elsewhere");
    await writeFile(elsewhere, "A".repeat(43), { mode: 0o600 });
    const planted = join(dir, "planted");
    await symlink(elsewhere, planted);
    const third = await ensureHttpToken(planted);
    expect(third.token).not.toBe("A".repeat(43));
    expect((await lstat(planted)).isSymbolicLink()).toBe(false);
    expect(await readFile(elsewhere, "utf8")).toBe("A".repeat(43));
  });

  it("the default file is under $XDG_RUNTIME_DIR/backplane, else the state dir", () => {
    expect(defaultHttpTokenFile({ XDG_RUNTIME_DIR: "/run/user/1000" })).toBe(
      "/run/user/1000/backplane/http-token",
    );
    expect(defaultHttpTokenFile({ STATE_DIRECTORY: "/var/lib/backplane" })).toBe(
      "/var/lib/backplane/http-token",
    );
    expect(defaultHttpTokenFile({ XDG_STATE_HOME: "/home/u/.st" })).toBe("/home/u/.st/backplane/http-token");
  });
});

describe("no web page can drive the API", () => {
  it("a cross-site text/plain POST is refused and changes nothing (CSRF)", async () => {
    const { port, token, client, url } = await setup();
    const auth = { host: url.host, authorization: `Bearer ${token}` };
    const plain = await raw(
      port,
      "POST",
      "/api/nodes/n1/drain",
      { ...auth, "content-type": "text/plain" },
      "{}",
    );
    expect(plain.status).toBe(415);
    expect(plain.body).toMatch(/application\/json/);
    const none = await raw(port, "POST", "/api/nodes/n1/drain", auth, "{}");
    expect(none.status).toBe(415);
    const settings = await raw(
      port,
      "PUT",
      "/api/settings",
      { ...auth, "content-type": "text/plain;charset=UTF-8" },
      '{"autoUpgrade":true}',
    );
    expect(settings.status).toBe(415);
    const json = { ...auth, "content-type": "application/json" };
    const foreign = await raw(
      port,
      "POST",
      "/api/nodes/n1/drain",
      { ...json, origin: "https://evil.example" },
      "{}",
    );
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatch(/evil\.example/);
    const otherPort = await raw(
      port,
      "POST",
      "/api/nodes/n1/drain",
      { ...json, origin: `http://127.0.0.1:${port + 1}` },
      "{}",
    );
    expect(otherPort.status).toBe(403);
    expect(await nodeStatus(client)).toBe("healthy");
    expect((await client.call("settings.get", {})).settings.autoUpgrade).toBe(false);

    const own = await raw(
      port,
      "POST",
      "/api/nodes/n1/drain",
      { ...json, origin: `http://${url.host}` },
      "{}",
    );
    expect(own.status).toBe(200);
    expect(await nodeStatus(client)).toBe("draining");
  });

  it("Host must be the listener's address, localhost, or a --http-host name (DNS rebinding)", async () => {
    const { port, token } = await setup({ hosts: ["ctl.example.internal"] });
    const get = (host: string) => raw(port, "GET", "/api/nodes", { host, authorization: `Bearer ${token}` });
    const rebind = await get(`rebind.evil.example:${port}`);
    expect(rebind.status).toBe(421);
    expect(rebind.body).toMatch(/--http-host/);
    expect((await get("rebind.evil.example")).status).toBe(421);
    expect((await get(`127.0.0.2:${port}`)).status).toBe(421);
    expect((await get(`127.0.0.1:${port}`)).status).toBe(200);
    expect((await get(`localhost:${port}`)).status).toBe(200);
    expect((await get(`CTL.example.internal:${port}`)).status).toBe(200);
    const ws = await wsStatus(`ws://127.0.0.1:${port}/api/events`, {
      headers: { host: "rebind.evil.example", authorization: `Bearer ${token}` },
    });
    expect(ws.status).toBe(421);
  });

  it("on a wildcard bind, Host may be any of this host's addresses and nothing else", async () => {
    const { port, token } = await setup({ listen: "0.0.0.0:0", token: "a-token-given-with-the-flag" });
    const get = (host: string) => raw(port, "GET", "/api/nodes", { host, authorization: `Bearer ${token}` });
    const own = Object.values(networkInterfaces())
      .flatMap((a) => a ?? [])
      .filter((a) => a.family === "IPv4");
    expect(own.length).toBeGreaterThan(0);
    for (const a of own) expect((await get(`${a.address}:${port}`)).status, a.address).toBe(200);
    expect((await get(`localhost:${port}`)).status).toBe(200);
    expect((await get(`0.0.0.0:${port}`)).status).toBe(421);
    expect((await get(`rebind.evil.example:${port}`)).status).toBe(421);
  });

  it("the events socket checks Origin and the token, and ?token= never reaches a log line", async () => {
    const { port, token, log } = await setup();
    const base = `ws://127.0.0.1:${port}/api/events`;
    const evil = await wsStatus(`${base}?token=${token}`, { headers: { origin: "https://evil.example" } });
    expect(evil.status).toBe(403);
    expect((await wsStatus(base)).status).toBe(401);
    expect((await wsStatus(`${base}?token=wrong-${token}`)).status).toBe(401);
    const own = await wsStatus(`${base}?token=${token}&snapshot=1`, {
      headers: { origin: `http://127.0.0.1:${port}` },
    });
    expect(own.status).toBe(101);
    const hello = await waitFor("hello", () => own.messages[0]);
    expect(JSON.parse(hello)).toMatchObject({ type: "hello" });
    own.ws!.close();

    const logged = log.lines.filter((l) => /events socket/.test(String(l.msg)));
    expect(logged.length).toBeGreaterThanOrEqual(4);
    expect(logged.some((l) => String(l.url).includes("token=REDACTED"))).toBe(true);
    expect(JSON.stringify(log.lines)).not.toContain(token);
  });
});

describe("slow and greedy clients", () => {
  it("a silent connection, half-sent headers and a 1-byte-then-silent 10 GB body are cut off within 10 s", async () => {
    const { port, token } = await setup();
    const t0 = Date.now();
    const probe = (send: (s: Socket) => void) =>
      new Promise<{ ms: number; reply: string }>((resolve) => {
        let reply = "";
        const s = tcpConnect(port, "127.0.0.1", () => send(s));
        s.on("data", (d) => (reply += String(d)));
        s.on("error", () => {});
        s.on("close", () => resolve({ ms: Date.now() - t0, reply }));
        suite.defer(async () => s.destroy());
      });
    const results = await Promise.all([
      probe(() => {}),
      probe((s) => s.write(`POST /api/nodes/n1/drain HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`)),
      probe((s) =>
        s.write(
          `POST /api/nodes/n1/drain HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
            `authorization: Bearer ${token}\r\n` +
            `content-length: ${10 * 1024 ** 3}\r\n\r\n{`,
        ),
      ),
    ]);
    for (const r of results) {
      expect(r.ms).toBeLessThan(10_000);
      expect(r.reply).toMatch(/^HTTP\/1\.1 408/);
    }
  }, 20_000);

  it("events sockets are capped per address and in total", async () => {
    const { port, token, log } = await setup({ events: { maxPerAddress: 2, maxClients: 3 } });
    const url = `ws://127.0.0.1:${port}/api/events?token=${token}`;
    const open: WebSocket[] = [];
    const attempt = async (localAddress: string) => {
      const r = await wsStatus(url, { localAddress });
      if (r.ws) {
        open.push(r.ws);
        suite.defer(async () => r.ws!.terminate());
      }
      return r.status;
    };
    expect(await attempt("127.0.0.1")).toBe(101);
    expect(await attempt("127.0.0.1")).toBe(101);
    expect(await attempt("127.0.0.1")).toBe(429);
    expect(await attempt("127.0.0.2")).toBe(101);
    expect(await attempt("127.0.0.3")).toBe(503);
    expect(log.lines).toContainEqual(expect.objectContaining({ msg: "events socket refused", status: 429 }));
    // A closed socket frees its place.
    open[0]!.close();
    await waitFor("a place is free", async () => ((await attempt("127.0.0.1")) === 101 ? true : null));
  });

  it("a reader that stops reading is dropped once its buffer passes the limit", async () => {
    const { port, token, log, client } = await setup({ events: { maxBufferedBytes: 64 * 1024 } });
    const slow = await wsStatus(`ws://127.0.0.1:${port}/api/events?token=${token}`);
    expect(slow.status).toBe(101);
    const ws = slow.ws!;
    suite.defer(async () => ws.terminate());
    const closed = new Promise<void>((r) => ws.once("close", () => r()));
    await waitFor("hello", () => slow.messages[0]);
    // Stop reading: the controller's writes pile up in the kernel, then in its own buffer.
    const sock = (ws as unknown as { _socket: Socket })._socket;
    sock.pause();
    const dropped = () => log.lines.find((l) => l.msg === "events socket dropped: its reader fell behind");
    const p: ProgressEvent = {
      v: SCHEMA_VERSION,
      opId: "op-flood",
      nodeId: "n1",
      backend: "b".repeat(120),
      phase: "downloading",
      bytesDone: 1,
      bytesTotal: 2,
      bytesPerSec: 1,
      etaSec: 1,
      final: false,
      at: Date.now(),
    };
    const subject = client.subjects.progress("n1", "op-flood");
    let sent = 0;
    // At most ~200 MB of events: far more than any kernel buffers hold.
    while (!dropped() && sent < 500_000) {
      for (let i = 0; i < 2_000; i++) client.publish(subject, { ...p, bytesDone: sent + i });
      sent += 2_000;
      // A round trip to the server: the batch has gone out before the next one.
      await client.get("nodes", "n1");
    }
    const line = await waitFor("the slow reader dropped", dropped, 5_000);
    expect(Number(line.bufferedBytes)).toBeGreaterThan(64 * 1024);
    expect(Number(line.bufferedBytes)).toBeLessThan(1024 * 1024);
    sock.resume();
    await closed;
  }, 60_000);
});

describe("a controller that cannot serve HTTP exits", () => {
  it("a port in use or an address not on this host: exit non-zero with a clear message", async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    suite.defer(() => new Promise((r) => holder.close(r)));
    const busy = (holder.address() as { port: number }).port;
    const args = (listen: string, extra: string[] = []) => [
      "controller",
      "--server",
      suite.nats.url,
      "--prefix",
      uniquePrefix(),
      "--gallery",
      suite.galleryPath,
      "--gallery-cache",
      join(suite.dir, "cache"),
      "--http",
      listen,
      ...extra,
    ];
    const env = { XDG_RUNTIME_DIR: join(suite.dir, "run") };
    const [inUse, notHere] = await Promise.all([
      runBackplane(args(`127.0.0.1:${busy}`), env, 20_000),
      runBackplane(args("192.0.2.1:0", ["--token", "t0k3n-for-a-remote-bind"]), env, 20_000),
    ]);
    expect(inUse.code, inUse.stderr).not.toBe(0);
    expect(inUse.stderr).toContain(`cannot serve HTTP on 127.0.0.1:${busy}: the port is in use`);
    expect(notHere.code, notHere.stderr).not.toBe(0);
    expect(notHere.stderr).toContain("cannot serve HTTP on 192.0.2.1:0: the address is not on this host");
  }, 30_000);

  it("the real binary writes its token under $XDG_RUNTIME_DIR/backplane, says where, and --help lists the flags", async () => {
    const run = join(suite.dir, "run-ok");
    await mkdir(run, { mode: 0o700 });
    const p = spawnBackplane(
      [
        "controller",
        "--server",
        suite.nats.url,
        "--prefix",
        uniquePrefix(),
        "--gallery",
        suite.galleryPath,
        "--gallery-cache",
        join(suite.dir, "cache"),
        "--http",
        "127.0.0.1:0",
      ],
      { XDG_RUNTIME_DIR: run, BACKPLANE_LOG_LEVEL: "info" },
    );
    suite.defer(() => stopProcess(p, "SIGKILL"));
    const base = await waitFor(
      "HTTP API listening",
      () => {
        if (p.child.exitCode !== null) throw new Error(`controller exited:\n${p.output()}`);
        return /"url":"(http:[^"]+)"[^\n]*"msg":"HTTP API listening"/.exec(p.output())?.[1];
      },
      20_000,
    );
    const file = join(run, "backplane", "http-token");
    expect(p.output()).toContain(`"file":"${file}"`);
    const token = await readHttpToken(file);
    expect(token).toBeDefined();
    expect((await fetch(`${base}/api/nodes`)).status).toBe(401);
    expect((await fetch(`${base}/api/nodes`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      200,
    );

    const help = await runBackplane(["controller", "--help"]);
    for (const flag of [
      "--http-token-file",
      "--http-host",
      "--ws-max-clients",
      "--ws-max-per-address",
      "--ws-max-buffer",
    ])
      expect(help.stdout).toContain(flag);
  }, 30_000);
});
