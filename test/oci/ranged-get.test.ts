import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rangedBody, rangedGet } from "../../src/oci/ranged-get.js";

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
    default:
      res.writeHead(404).end("no such thing");
  }
}

describe("rangedGet / rangedBody", () => {
  let server: Server;
  let base: string;
  const refusal = (status: number) => new Error(`refused: HTTP ${status}`);

  beforeAll(async () => {
    server = createServer(answer);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function fetchFrom(path: string, from: number): Promise<{ start: number; body: string }> {
    const opened = rangedBody(await rangedGet(new URL(path, base), from), from, refusal);
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

  it("refuses any other status with the caller's error", async () => {
    await expect(fetchFrom("/missing", 0)).rejects.toThrow("refused: HTTP 404");
  });
});
