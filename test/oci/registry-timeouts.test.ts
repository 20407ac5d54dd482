import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImageRef } from "../../src/oci/reference.js";
import { RegistryClient } from "../../src/oci/registry-client.js";
import { parseRetryAfter, retryAfterOf, RetryAfterBudget } from "../../src/oci/retry-after.js";

describe("parseRetryAfter and its budget", () => {
  it("reads delta-seconds and HTTP dates; ignores what it cannot read", () => {
    const now = Date.parse("Wed, 02 Dec 2026 12:00:00 GMT");
    expect(parseRetryAfter("7", now)).toBe(7_000);
    expect(parseRetryAfter("Wed, 02 Dec 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 02 Dec 2026 11:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it("only a 429 or 503 is read for a Retry-After", () => {
    expect(retryAfterOf(429, "7")).toBe(7_000);
    expect(retryAfterOf(503, "2")).toBe(2_000);
    expect(retryAfterOf(503, null)).toBeUndefined();
    expect(retryAfterOf(500, "7")).toBeUndefined();
    expect(retryAfterOf(404, "7")).toBeUndefined();
  });

  it("refuses a wait over the cap, and waits beyond the total budget", () => {
    const b = new RetryAfterBudget({ capMs: 10_000, budgetMs: 15_000 });
    expect(() => b.take(11_000, "registry r")).toThrow(/asked to retry after 11 s, more than the 10 s/);
    expect(b.take(10_000, "registry r")).toBe(10_000);
    expect(() => b.take(6_000, "registry r")).toThrow(/still refused after waiting 10 s/);
  });
});

/** A registry that answers manifests as `onManifest` says; its token realm never answers. */
describe("manifest and token requests against a registry that does not answer", () => {
  let server: Server;
  let host: string;
  let onManifest: (req: IncomingMessage, res: ServerResponse) => void = () => {};
  const stamps: number[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith("/token")) return; // never answered
      stamps.push(Date.now());
      onManifest(req, res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = () =>
    new RegistryClient({ requestTimeoutMs: 300, retryAfter: { capMs: 2_000, budgetMs: 3_000 } });
  const manifest = JSON.stringify({ schemaVersion: 2, layers: [] });

  it("a manifest request with no answer fails naming the host and the limit", async () => {
    onManifest = () => {};
    await expect(client().getManifest(parseImageRef(`${host}/r:1`))).rejects.toThrow(
      `manifest request to ${host} got no answer within 0.3 s`,
    );
  });

  it("a manifest body that stops half-way fails the same way", async () => {
    onManifest = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      res.write("{");
    };
    await expect(client().getManifest(parseImageRef(`${host}/r:1`))).rejects.toThrow(
      `manifest request to ${host} got no answer within 0.3 s`,
    );
  });

  it("a token request with no answer fails naming the token host", async () => {
    onManifest = (_req, res) => {
      res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="r"` }).end();
    };
    await expect(client().getManifest(parseImageRef(`${host}/r:1`))).rejects.toThrow(
      `token request to ${host} got no answer within 0.3 s`,
    );
  });

  it("a 503 with Retry-After is waited out, then the manifest is read", async () => {
    let n = 0;
    stamps.length = 0;
    onManifest = (_req, res) => {
      if (n++ === 0) res.writeHead(503, { "retry-after": "1" }).end();
      else res.writeHead(200, { "content-type": "application/json" }).end(manifest);
    };
    const m = await client().getManifest(parseImageRef(`${host}/r:1`));
    expect(m.body.toString()).toBe(manifest);
    expect(stamps).toHaveLength(2);
    expect(stamps[1]! - stamps[0]!).toBeGreaterThanOrEqual(1_000);
  });

  it("a registry that keeps asking to wait fails once the budget is spent", async () => {
    onManifest = (_req, res) => res.writeHead(429, { "retry-after": "1" }).end();
    await expect(client().getManifest(parseImageRef(`${host}/r:1`))).rejects.toThrow(
      `registry ${host}: still refused after waiting 3 s as asked (Retry-After); giving up`,
    );
  });

  it("a 500 is tried twice more, then reported", async () => {
    stamps.length = 0;
    onManifest = (_req, res) => res.writeHead(500).end();
    await expect(client().headManifest(parseImageRef(`${host}/r:1`))).rejects.toThrow(/HTTP 500/);
    expect(stamps).toHaveLength(3);
  });
});
