import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rangedBody, rangedGet } from "../../src/oci/ranged-get.js";
import { RegistryError } from "../../src/oci/registry-client.js";
import { skipTo, TransientError } from "../../src/oci/verified-stream.js";

const DATA = "0123456789abcdefghij";

/** Paths choose how the server answers a Range request. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1] ?? 0);
  switch (req.url) {
    case "/honours":
      if (req.headers.range) {
        res.writeHead(206, { "content-range": `bytes ${from}-${DATA.length - 1}/${DATA.length}` });
        res.end(DATA.slice(from));
      } else {
        res.writeHead(200).end(DATA);
      }
      return;
    case "/ignores":
      res.writeHead(200).end(DATA);
      return;
    case "/earlier":
      // A server may start a partial answer before the byte asked for.
      res.writeHead(206, { "content-range": `bytes 4-${DATA.length - 1}/${DATA.length}` });
      res.end(DATA.slice(4));
      return;
    case "/later":
      // Past the byte asked for: what lies between would be missing.
      res.writeHead(206, { "content-range": `bytes 12-${DATA.length - 1}/${DATA.length}` });
      res.end(DATA.slice(12));
      return;
    case "/short":
      // Ignores Range, and the body ends before the byte asked for (in several chunks).
      res.writeHead(200);
      res.write(DATA.slice(0, 3));
      setImmediate(() => res.end(DATA.slice(3, 5)));
      return;
    case "/busy":
      res.writeHead(429, { "retry-after": "7" }).end("slow down");
      return;
    case "/unavailable":
      res.writeHead(503).end("later");
      return;
    case "/unsatisfiable":
      res.writeHead(416).end();
      return;
    default:
      res.writeHead(404).end("no such thing");
  }
}

describe("rangedGet / rangedBody", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer(answer);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function fetchFrom(
    path: string,
    from: number,
    transient?: number[],
  ): Promise<{ start: number; body: string }> {
    const opened = rangedBody(await rangedGet(new URL(path, base), from), from, `GET ${path}`, transient);
    return { start: opened.start, body: await text(opened.body) };
  }

  it("asks for the rest with Range and says where the answer starts", async () => {
    expect(await fetchFrom("/honours", 0)).toEqual({ start: 0, body: DATA });
    expect(await fetchFrom("/honours", 7)).toEqual({ start: 7, body: DATA.slice(7) });
  });

  it("a server that ignores Range answers from byte 0, and says so", async () => {
    expect(await fetchFrom("/ignores", 7)).toEqual({ start: 0, body: DATA });
  });

  it("takes a partial answer's start from Content-Range, not from the request", async () => {
    expect(await fetchFrom("/earlier", 7)).toEqual({ start: 4, body: DATA.slice(4) });
  });

  it("refuses any other status with a RegistryError naming it", async () => {
    const e: unknown = await fetchFrom("/missing", 0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RegistryError);
    expect([(e as RegistryError).message, (e as RegistryError).status]).toEqual([
      "GET /missing: HTTP 404",
      404,
    ]);
    await expect(fetchFrom("/unsatisfiable", 0)).rejects.toBeInstanceOf(RegistryError);
  });

  it("a 429 or 503 is transient and carries what its Retry-After asks for", async () => {
    const busy: unknown = await fetchFrom("/busy", 0).catch((x: unknown) => x);
    expect(busy).toBeInstanceOf(TransientError);
    expect([(busy as TransientError).message, (busy as TransientError).retryAfterMs]).toEqual([
      "GET /busy: HTTP 429",
      7_000,
    ]);
    const unavailable: unknown = await fetchFrom("/unavailable", 0).catch((x: unknown) => x);
    expect(unavailable).toBeInstanceOf(TransientError);
    expect((unavailable as TransientError).retryAfterMs).toBeUndefined();
  });

  it("the caller may name more transient statuses (a blob GET retries a 416)", async () => {
    await expect(fetchFrom("/unsatisfiable", 0, [416])).rejects.toBeInstanceOf(TransientError);
  });

  describe("skipTo", () => {
    /** The bytes from `from` on, as a resuming download sees them; `chunks` counts what arrived. */
    async function resume(path: string, from: number): Promise<{ body: string; chunks: number }> {
      const opened = rangedBody(await rangedGet(new URL(path, base), from), from, `GET ${path}`);
      let chunks = 0;
      const out: Buffer[] = [];
      for await (const c of skipTo(opened, from, `GET ${path}`, () => chunks++)) out.push(Buffer.from(c));
      return { body: Buffer.concat(out).toString(), chunks };
    }

    it("passes on an answer that starts where asked", async () => {
      expect((await resume("/honours", 7)).body).toBe(DATA.slice(7));
    });

    it("drops what a server that ignored Range (200, whole body) sent before the resume point", async () => {
      const r = await resume("/ignores", 7);
      expect(r.body).toBe(DATA.slice(7));
      expect(r.chunks).toBeGreaterThan(0);
      // Every chunk is reported, wholly skipped ones too.
      expect(await resume("/ignores", DATA.length)).toEqual({ body: "", chunks: 1 });
    });

    it("drops what a 206 from an earlier offset sent before the resume point", async () => {
      expect((await resume("/earlier", 7)).body).toBe(DATA.slice(7));
    });

    it("a body that ends before the resume point is a dropped connection", async () => {
      const e: unknown = await resume("/short", 7).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TransientError);
      expect((e as Error).message).toBe("GET /short: connection closed before byte 7");
    });

    it("refuses a 206 that starts past the resume point", async () => {
      const e: unknown = await resume("/later", 7).catch((x: unknown) => x);
      expect(e).not.toBeInstanceOf(TransientError);
      expect((e as Error).message).toBe("GET /later: server resumed at 12, past byte 7");
    });
  });
});
