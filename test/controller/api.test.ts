import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { join } from "node:path";
import { Controller } from "../../src/controller/controller.js";
import { HttpApi } from "../../src/controller/http-api.js";
import { encode, opKey } from "../../src/protocol/index.js";
import { node as factNode, op as factOp } from "./facts.js";
import { waitFor } from "../harness/proc.js";
import {
  connect,
  controllerSuite,
  startReplica,
  testTelemetry,
  uniquePrefix,
  waitLeader,
  writeGallery,
  type Replica,
} from "./cluster.js";
import { FakeNode } from "./fake-node.js";

const GALLERY = `
- name: bar
  uri: 127.0.0.1:5999/bar:latest
- name: cuda12-baz
  uri: 127.0.0.1:5999/baz:cuda12
`;

const suite = controllerSuite("api", { gallery: GALLERY });

async function setup(http?: { token?: string }) {
  const prefix = uniquePrefix();
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const r: Replica = await startReplica(suite.nats.url, prefix, {
    galleryPath: suite.galleryPath,
    http: http ? { listen: "127.0.0.1:0", token: http.token } : undefined,
  });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const node = new FakeNode(client, { nodeId: "n1", behave: () => "hang" });
  await node.start();
  suite.defer(() => node.stop());
  await waitFor("n1 registered", () => client.get("nodes", "n1"));
  const base = r.ctl.httpUrl ?? "";
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        "content-type": "application/json",
        ...(http?.token ? { authorization: `Bearer ${http.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      json: (await res.json()) as {
        ok: boolean;
        data?: never;
        error?: { code: string; message: string; field?: string };
      },
    };
  };
  return { prefix, client, r, node, call };
}

describe("NATS API: bad input gets a clear error and nothing breaks", () => {
  it("malformed payloads, unknown methods and bad fields", async () => {
    const { client } = await setup();
    const raw = async (method: string, data: Uint8Array | string) =>
      JSON.parse(
        (await client.nc.request(client.subjects.api(method), data, { timeout: 3000 })).string(),
      ) as {
        ok: boolean;
        error?: { code: string; message: string; field?: string };
      };
    expect(await raw("ops.install", "{not json")).toMatchObject({
      ok: false,
      error: { code: "bad_request", message: expect.stringMatching(/not JSON/) },
    });
    expect(await raw("ops.frobnicate", "{}")).toMatchObject({ ok: false, error: { code: "not_found" } });
    expect(await raw("ops.install", encode({ backend: "bar", nodes: ["ok", "bad.id"] }))).toMatchObject({
      ok: false,
      error: { code: "bad_request", field: "nodes.1" },
    });
    expect(await raw("ops.install", encode({ backend: "bar", nodes: ["n1"], bogus: 1 }))).toMatchObject({
      ok: false,
      error: { code: "bad_request", message: expect.stringMatching(/bogus/) },
    });
    expect(await raw("nodes.drain", encode({ nodeId: "ghost" }))).toMatchObject({
      ok: false,
      error: { code: "not_found", field: "nodeId" },
    });
    expect(await raw("ops.cancel", encode({ opId: "op-nope" }))).toMatchObject({
      ok: false,
      error: { code: "not_found", field: "opId" },
    });
    // Still serving after all that.
    expect((await client.call("nodes.list", {})).nodes.map((n) => n.id)).toEqual(["n1"]);
  });

  it("settings: auto-upgrade is off by default and toggles at run time, audited", async () => {
    const { client } = await setup();
    expect((await client.call("settings.get", {})).settings).toMatchObject({
      autoUpgrade: false,
      upgradeCheckIntervalSec: 21600,
    });
    const s = await client.call("settings.set", { autoUpgrade: true, actor: "ops-team" });
    expect(s.settings).toMatchObject({ autoUpgrade: true, updatedBy: "ops-team" });
    expect((await client.call("settings.get", {})).settings.autoUpgrade).toBe(true);
    await expect(client.call("settings.set", { upgradeCheckIntervalSec: 5 } as never)).rejects.toMatchObject({
      code: "bad_request",
    });
    const h = await client.call("ops.history", {});
    expect(h.events.find((e) => e.kind === "settings.changed")).toMatchObject({
      actor: "ops-team",
      message: "autoUpgrade=true",
    });
  });

  it("gallery.list and gallery.resolve serve the install picker", async () => {
    const { client } = await setup();
    const l = await client.call("gallery.list", {});
    expect(l.entries.map((e) => [e.name, e.kind])).toEqual([
      ["bar", "concrete"],
      ["cuda12-baz", "concrete"],
    ]);
    const r = await client.call("gallery.resolve", { backend: "cuda12-baz", nodes: ["n1", "ghost"] });
    expect(r.nodes).toEqual([
      {
        nodeId: "n1",
        capability: "default",
        error: "cuda12-baz needs an nvidia node; this node's capability is default",
      },
      { nodeId: "ghost", error: "unknown node ghost" },
    ]);
    await expect(client.call("gallery.resolve", { backend: "nope" })).rejects.toMatchObject({
      code: "not_found",
      field: "backend",
    });
  });
});

describe("HTTP API", () => {
  it("mirrors the seed endpoints; admission is 202 with op ids at once", async () => {
    const { call, node } = await setup({ token: "s3cret" });
    const inst = await call("POST", "/api/nodes/n1/backends/install", { backend: "bar", actor: "web" });
    expect(inst.status).toBe(202);
    const opId = (inst.json.data as unknown as { admitted: Array<{ opId: string }> }).admitted[0]!.opId;
    const job = await call("GET", `/api/backends/job/${opId}`);
    expect(job.status).toBe(200);
    expect(job.json.data).toMatchObject({ op: { id: opId, requestedBy: "web", backend: "bar" } });
    const again = await call("POST", "/api/nodes/n1/backends/install", { backend: "bar" });
    expect(again.json.data).toMatchObject({ admitted: [{ opId, existing: true }] });
    const list = await call("GET", "/api/operations");
    expect((list.json.data as unknown as { ops: Array<{ id: string }> }).ops.map((o) => o.id)).toEqual([
      opId,
    ]);
    await waitFor(
      "running",
      async () =>
        ((await call("GET", `/api/operations/${opId}`)).json.data as unknown as { op: { state: string } }).op
          .state === "running",
    );
    const cancel = await call("POST", `/api/operations/${opId}/cancel`, {});
    expect(cancel.status).toBe(200);
    await waitFor(
      "cancelled",
      async () =>
        ((await call("GET", `/api/backends/job/${opId}`)).json.data as unknown as { op: { state: string } })
          .op.state === "cancelled",
    );
    expect(node.ran).toEqual([opId]);
    const nodes = await call("GET", "/api/nodes");
    expect((nodes.json.data as unknown as { nodes: Array<{ id: string }> }).nodes.map((n) => n.id)).toEqual([
      "n1",
    ]);
    expect((await call("POST", "/api/nodes/n1/drain", { reason: "x" })).json.data).toMatchObject({
      node: { status: "draining" },
    });
    expect((await call("POST", "/api/nodes/n1/resume")).json.data).toMatchObject({
      node: { status: "healthy" },
    });
    expect((await call("POST", "/api/nodes/n1/approve")).status).toBe(200);
    expect((await call("GET", "/api/backends/upgrades")).json).toEqual({ ok: true, data: { upgrades: [] } });
    const check = await call("POST", "/api/backends/upgrades/check", {});
    expect(check.json.data).toMatchObject({ upgrades: [], headRequests: 0 });
    expect((await call("GET", "/api/operations/history?limit=5&node=n1")).json.data).toMatchObject({
      events: expect.arrayContaining([expect.objectContaining({ kind: "op.cancel", opId })]),
    });
    expect((await call("PUT", "/api/settings", { autoUpgrade: true })).json.data).toMatchObject({
      settings: { autoUpgrade: true },
    });
  });

  it("pages /api/nodes and /api/operations with limit and after, and says next", async () => {
    const { call, client } = await setup({ token: "s3cret" });
    for (const id of ["n0", "n2", "n3"]) await client.put("nodes", id, factNode(id));
    for (const id of ["n0", "n2"])
      await client.put("ops", opKey(id, `op-${id}`), factOp(`op-${id}`, id, "bar", { state: "succeeded" }));
    type NodesPage = { nodes: Array<{ id: string }>; next?: string; total: number };
    const first = (await call("GET", "/api/nodes?limit=2")).json.data as unknown as NodesPage;
    expect(first).toMatchObject({ next: "n1", total: 4 });
    expect(first.nodes.map((n) => n.id)).toEqual(["n0", "n1"]);
    const last = (await call("GET", `/api/nodes?limit=2&after=${first.next}`)).json
      .data as unknown as NodesPage;
    expect(last.nodes.map((n) => n.id)).toEqual(["n2", "n3"]);
    expect(last).not.toHaveProperty("next");
    type OpsPage = { ops: Array<{ id: string }>; next?: string; total: number };
    const ops = (await call("GET", "/api/operations?all=true&limit=1")).json.data as unknown as OpsPage;
    expect(ops).toMatchObject({ ops: [{ id: "op-n0" }], next: opKey("n0", "op-n0"), total: 2 });
    const rest = (await call("GET", `/api/operations?all=true&limit=1&after=${ops.next}`)).json
      .data as unknown as OpsPage;
    expect(rest).toEqual({ ops: [expect.objectContaining({ id: "op-n2" })], total: 2 });
    const bad = await call("GET", "/api/nodes?limit=0");
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ ok: false, error: { field: "limit" } });
  });

  it("validates every request and names the field; maps errors to 4xx", async () => {
    const { call } = await setup({ token: "s3cret" });
    const t: Array<[string, string, unknown, number, RegExp | string, string?]> = [
      ["POST", "/api/nodes/n1/backends/install", "{oops", 400, /not JSON/],
      ["POST", "/api/nodes/n1/backends/install", [1, 2], 400, /must be a JSON object/],
      ["POST", "/api/nodes/n1/backends/install", {}, 400, /backend/, "backend"],
      ["POST", "/api/nodes/n1/backends/install", { backend: "bar", colour: "red" }, 400, /colour/],
      ["POST", "/api/nodes/bad.id/backends/install", { backend: "bar" }, 400, /nodes\.0/, "nodes.0"],
      [
        "POST",
        "/api/nodes/ghost/backends/install",
        { backend: "bar" },
        404,
        "ghost: unknown node ghost",
        "nodes",
      ],
      ["POST", "/api/nodes/n1/backends/install", { backend: "nope" }, 404, /unknown backend nope/, "backend"],
      [
        "POST",
        "/api/nodes/n1/backends/install",
        { backend: "cuda12-baz" },
        409,
        /needs an nvidia node/,
        "nodes",
      ],
      ["POST", "/api/nodes/n1/backends/upgrade", { backend: "bar" }, 409, /bar is not installed on node n1/],
      ["GET", "/api/operations?kind=explode", undefined, 400, /kind/, "kind"],
      ["GET", "/api/operations/history?limit=0", undefined, 400, /limit/, "limit"],
      ["POST", "/api/operations/op-x/dismiss", {}, 404, /no operation op-x/],
      ["GET", "/api/nope", undefined, 404, /no route/],
      ["DELETE", "/api/nodes", undefined, 405, /not allowed/],
    ];
    for (const [method, path, body, status, msg, field] of t) {
      const r = await call(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.json.ok).toBe(false);
      expect(r.json.error!.message, `${method} ${path}`).toMatch(msg);
      if (field) expect(r.json.error!.field, `${method} ${path}`).toBe(field);
    }
  });

  it("requires the bearer token, and refuses to bind beyond loopback without one", async () => {
    const { r, call } = await setup({ token: "s3cret" });
    const noAuth = await fetch(`${r.ctl.httpUrl}/api/nodes`);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const wrong = await call("GET", "/api/nodes", undefined, { authorization: "Bearer nope" });
    expect(wrong.status).toBe(401);
    const open = new HttpApi(r.ctl.api, undefined as never, {
      listen: "0.0.0.0:0",
      telemetry: testTelemetry(),
    });
    await expect(open.start()).rejects.toThrow(/refusing to serve HTTP on 0\.0\.0\.0 without --token/);
  });

  it("GET /api/events streams op, node and upgrade changes over a WebSocket", async () => {
    const { r, call } = await setup({ token: "s3cret" });
    const url = r.ctl.httpUrl!.replace(/^http/, "ws") + "/api/events";
    const denied = new WebSocket(url);
    const code = await new Promise<number>((res) =>
      denied.on("unexpected-response", (_q, resp) => res(resp.statusCode ?? 0)),
    );
    expect(code).toBe(401);

    const ws = new WebSocket(url, { headers: { authorization: "Bearer s3cret" } });
    suite.defer(async () => ws.close());
    const events: Array<{ type: string; key?: string; value?: { state?: string; status?: string } | null }> =
      [];
    ws.on("message", (m) => events.push(JSON.parse(String(m))));
    await waitFor("hello", () => events.find((e) => e.type === "hello"));
    const inst = await call("POST", "/api/nodes/n1/backends/install", { backend: "bar" });
    const opId = (inst.json.data as unknown as { admitted: Array<{ opId: string }> }).admitted[0]!.opId;
    await waitFor("op queued event", () =>
      events.find((e) => e.type === "op" && e.key === `n1.${opId}` && e.value?.state === "queued"),
    );
    await waitFor("op running event", () =>
      events.find((e) => e.type === "op" && e.value?.state === "running"),
    );
    await waitFor("progress event", () => events.find((e) => e.type === "progress"));
    await call("POST", "/api/nodes/n1/drain", {});
    await waitFor("node event", () =>
      events.find((e) => e.type === "node" && e.value?.status === "draining"),
    );
  });

  it("GET /api/events?snapshot=1 first sends every node, op and upgrade, then the settings (null when unset)", async () => {
    const { r, call } = await setup({ token: "s3cret" });
    const inst = await call("POST", "/api/nodes/n1/backends/install", { backend: "bar" });
    const opId = (inst.json.data as unknown as { admitted: Array<{ opId: string }> }).admitted[0]!.opId;
    type Msg = { type: string; key?: string; value?: unknown; prev?: unknown };
    const snapshot = async (): Promise<Msg[]> => {
      const ws = new WebSocket(r.ctl.httpUrl!.replace(/^http/, "ws") + "/api/events?snapshot=1", {
        headers: { authorization: "Bearer s3cret" },
      });
      const got: Msg[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          ws.on("error", reject);
          ws.on("message", (m) => {
            // Live events follow the snapshot at once; the snapshot ends at its settings message.
            if (got.at(-1)?.type === "settings") return;
            got.push(JSON.parse(String(m)) as Msg);
            if (got.at(-1)!.type === "settings") resolve();
          });
        });
      } finally {
        ws.close();
      }
      return got;
    };
    const got = await waitFor("a snapshot with the op", async () => {
      const s = await snapshot();
      return s.some((m) => m.type === "op") ? s : undefined;
    });
    const types = got.map((m) => m.type).join(",");
    expect(types).toMatch(/^hello,(node,)+(op,)+(upgrade,)*settings$/);
    expect(got.find((m) => m.type === "node")).toMatchObject({ key: "n1", value: { id: "n1" } });
    expect(got.find((m) => m.type === "op")).toMatchObject({
      key: `n1.${opId}`,
      value: { id: opId },
      prev: null,
    });
    expect(got.at(-1)).toEqual({ type: "settings", value: null, at: expect.any(Number) });
  });
});

describe("a gallery with broken YAML", () => {
  it("keeps the last good copy, says why, and the controller keeps working", async () => {
    const prefix = uniquePrefix();
    const cache = join(suite.dir, "cache");
    const path = await writeGallery(suite.dir, GALLERY, "g2.yaml");
    const client = await connect(suite.nats.url, prefix);
    suite.defer(() => client.close());
    const first = await startReplica(suite.nats.url, prefix, { galleryPath: path, galleryCacheDir: cache });
    await first.stop();

    await writeGallery(suite.dir, "- name: bar\n  uri: [broken\n", "g2.yaml");
    const r = await startReplica(suite.nats.url, prefix, { galleryPath: path, galleryCacheDir: cache });
    suite.defer(() => r.stop());
    expect(r.ctl.galleryStatus[0]).toMatchObject({ ok: false, fromCache: true, entries: 2 });
    expect(r.ctl.galleryStatus[0]!.error).toMatch(/^broken YAML at line \d+, column \d+: /);
    expect((await client.call("gallery.list", {})).entries.map((e) => e.name)).toEqual(["bar", "cuda12-baz"]);

    // A live reload that breaks keeps serving the copy in memory.
    await writeGallery(suite.dir, "not: [a list\n", "g2.yaml");
    const status = await r.ctl.reloadGallery();
    expect(status[0]!.error).toMatch(/broken YAML/);
    expect((await client.call("gallery.list", {})).entries).toHaveLength(2);

    // With no good copy anywhere, installs are refused clearly rather than crashing.
    const bare = await startReplica(suite.nats.url, uniquePrefix(), {
      galleryPath: join(suite.dir, "missing.yaml"),
    });
    suite.defer(() => bare.stop());
    expect(bare.ctl.galleryStatus[0]!.error).toMatch(/ENOENT/);
    const c2 = await connect(suite.nats.url, bare.client.prefix);
    suite.defer(() => c2.close());
    await expect(c2.call("ops.install", { backend: "bar", nodes: ["n1"] })).rejects.toMatchObject({
      code: "not_found",
    });
  });
});

void Controller;
