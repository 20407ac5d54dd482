import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/lib/log.js";
import { GalleryLoader, parseGallerySources } from "../../src/gallery/index.js";
import { removeDir, tempDir } from "../harness/proc.js";
import { FIXTURE_PATH, FIXTURE_URL } from "./fixture.js";

const GOOD = "- name: alpha\n  uri: quay.io/x/alpha:latest\n- name: beta\n  uri: quay.io/x/beta:latest\n";

describe("parseGallerySources", () => {
  it("takes name=url or names a bare source after its file or host", () => {
    expect(
      parseGallerySources([
        "main=https://example.com/index.yaml",
        "/etc/bp/extra.yaml",
        "https://h.io/x.yaml",
        "/a/extra.yml",
      ]),
    ).toEqual([
      { name: "main", url: "https://example.com/index.yaml" },
      { name: "extra", url: "/etc/bp/extra.yaml" },
      { name: "h.io", url: "https://h.io/x.yaml" },
      { name: "extra-2", url: "/a/extra.yml" },
    ]);
  });
});

describe("GalleryLoader", () => {
  let dir: string;
  let server: Server;
  let body = GOOD;
  let status = 200;
  let url: string;
  /** Sent as ETag when set; a request naming it gets a 304. */
  let etag: string | undefined;
  const asked: (string | undefined)[] = [];
  /** While set, answers (with the body as it was when asked) wait for it; `arrived` hears each request. */
  let gate: { open: Promise<void>; arrived: () => void } | undefined;

  beforeAll(async () => {
    dir = await tempDir("gallery");
    server = createServer((req, res) => {
      const ifNoneMatch = req.headers["if-none-match"];
      asked.push(ifNoneMatch);
      if (etag && ifNoneMatch === etag) {
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      const [code, text] = [status, body];
      const answer = () => {
        res.writeHead(code, { "content-type": "application/yaml", ...(etag ? { etag } : {}) });
        res.end(text);
      };
      if (!gate) return answer();
      gate.arrived();
      void gate.open.then(answer);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/index.yaml`;
  });
  afterEach(() => {
    [body, status, etag, gate] = [GOOD, 200, undefined, undefined];
    asked.length = 0;
  });
  afterAll(async () => {
    server.close();
    await removeDir(dir);
  });

  it("loads several named galleries from files and URLs; the first gallery wins a name", async () => {
    const other = join(dir, "other.yaml");
    await writeFile(
      other,
      "- name: alpha\n  uri: quay.io/other/alpha:1\n- name: gamma\n  uri: quay.io/x/gamma:1\n",
    );
    const loader = new GalleryLoader({
      sources: [
        { name: "localai", url: FIXTURE_URL.href },
        { name: "web", url },
        { name: "other", url: other },
      ],
    });
    const cat = await loader.load();
    expect(cat.size).toBe(38 + 2 + 2);
    expect(cat.find("alpha")?.gallery).toBe("web");
    expect(cat.find("other@alpha")?.uri).toBe("quay.io/other/alpha:1");
    expect(cat.find("llama-cpp")?.galleryUrl).toBe(FIXTURE_URL.href);
    expect(loader.status.map((s) => [s.name, s.ok, s.entries])).toEqual([
      ["localai", true, 38],
      ["web", true, 2],
      ["other", true, 2],
    ]);
    expect(FIXTURE_PATH).toMatch(/fixtures\/gallery\/index\.yaml$/);
  });

  it("a broken, failing or unreachable gallery keeps the last good copy and reports why", async () => {
    const cacheDir = join(dir, "cache");
    const loader = new GalleryLoader({ sources: [{ name: "web", url }], cacheDir });
    expect((await loader.load()).size).toBe(2);

    body = "- name: alpha\n  uri: [broken\n";
    expect((await loader.load()).find("beta")?.uri).toBe("quay.io/x/beta:latest");
    expect(loader.status[0]).toMatchObject({ ok: false, entries: 2, fromCache: false });
    expect(loader.status[0]!.error).toMatch(
      /^broken YAML at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a \]$/,
    );

    body = "- just: junk\n";
    await loader.load();
    expect(loader.status[0]).toMatchObject({ ok: false, entries: 2 });
    expect(loader.status[0]!.error).toMatch(/no usable entries \(1 rejected, first: entry has no name\)/);

    status = 503;
    body = GOOD;
    await loader.load();
    expect(loader.status[0]!.error).toMatch(/HTTP 503/);
    expect(loader.catalog.size).toBe(2);

    // A fresh process whose source is unreachable starts from the disk cache.
    const restarted = new GalleryLoader({
      sources: [{ name: "web", url: "http://127.0.0.1:1/index.yaml" }],
      cacheDir,
    });
    expect((await restarted.load()).size).toBe(0);
    const sameUrl = new GalleryLoader({ sources: [{ name: "web", url }], cacheDir });
    status = 500;
    const cat = await sameUrl.load();
    expect(cat.size).toBe(2);
    expect(sameUrl.status[0]).toMatchObject({ ok: false, fromCache: true, entries: 2 });
    expect(sameUrl.status[0]!.error).toMatch(/HTTP 500/);
  });

  it("a missing file with no cache gives an empty catalog and the reason", async () => {
    const loader = new GalleryLoader({ sources: [{ name: "gone", url: join(dir, "missing.yaml") }] });
    expect((await loader.load()).size).toBe(0);
    expect(loader.status[0]!.error).toMatch(/ENOENT/);
  });

  it("does not parse an unchanged gallery again, and keeps the catalog in use when nothing changed", async () => {
    const file = join(dir, "steady.yaml");
    await writeFile(file, GOOD + "- name: junk\n");
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (msg: string) => warnings.push(msg) };
    const loader = new GalleryLoader({ sources: [{ name: "steady", url: file }], logger });
    const first = await loader.load();
    expect(warnings).toEqual(["gallery entry skipped"]);

    expect(await loader.load()).toBe(first);
    expect(warnings).toHaveLength(1);
    expect(loader.status[0]).toMatchObject({ ok: true, entries: 2, warnings: [{ name: "junk" }] });

    await writeFile(file, GOOD + "- name: gamma\n  uri: quay.io/x/gamma:1\n");
    const changed = await loader.load();
    expect(changed).not.toBe(first);
    expect(changed.find("gamma")?.uri).toBe("quay.io/x/gamma:1");
  });

  it("asks an http gallery with If-None-Match and takes a 304 as the same text", async () => {
    etag = '"v1"';
    const loader = new GalleryLoader({ sources: [{ name: "web", url }] });
    const first = await loader.load();
    expect(await loader.load()).toBe(first);
    expect(asked).toEqual([undefined, '"v1"']);
    expect(loader.status[0]).toMatchObject({ ok: true, entries: 2 });

    // A broken text's validator is not kept: the next request must not let a 304 pass it off as good.
    body = "- name: alpha\n  uri: [broken\n";
    etag = '"v2"';
    await loader.load();
    expect(loader.status[0]).toMatchObject({ ok: false, entries: 2 });
    await loader.load();
    expect(asked.slice(2)).toEqual(['"v1"', '"v1"']);
    expect(loader.status[0]!.ok).toBe(false);
  });

  it("a load asked for during another runs once more after it, and every caller gets that one", async () => {
    let open!: () => void;
    let arrived!: () => void;
    const firstArrived = new Promise<void>((r) => (arrived = r));
    gate = { open: new Promise<void>((r) => (open = r)), arrived };
    const loader = new GalleryLoader({ sources: [{ name: "web", url }] });
    const first = loader.load();
    await firstArrived;
    // Changed after the running load asked: only a load after it can see this.
    body = GOOD + "- name: gamma\n  uri: quay.io/x/gamma:1\n";
    gate = undefined;
    const [second, third] = [loader.load(), loader.load()];
    open();
    // Every caller, the first too, gets the load that started after the change.
    expect((await second).find("gamma")?.uri).toBe("quay.io/x/gamma:1");
    expect(await third).toBe(await second);
    expect(await first).toBe(await second);
    expect(asked).toHaveLength(2);
  });
});
