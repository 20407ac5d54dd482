import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { ClusterClient } from "../../src/client/index.js";
import type { OpRecord, ProgressEvent } from "../../src/protocol/index.js";
import { readHttpToken } from "../../src/lib/http-token.js";
import { spawnBackplane } from "../harness/backplane.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { stopProcess, waitFor, type Spawned } from "../harness/proc.js";
import { connect, controllerSuite, uniquePrefix, writeGallery } from "./cluster.js";
import { HoldingProxy } from "./holding-proxy.js";

/**
 * End to end: the real `backplane controller` and `backplane agent` binaries (dist/, built with
 * `npx tsc -p tsconfig.build.json`), real nats-server, real docker-registry.
 */

const suite = controllerSuite("e2e", { registry: true });

const FAST_CONTROLLER = [
  "--heartbeat-interval",
  "200ms",
  "--health-tick",
  "100ms",
  "--offline-after",
  "5s",
  "--reap-interval",
  "500ms",
  "--check-debounce",
  "100ms",
  "--gallery-refresh",
  "200ms",
  "--lease-ttl",
  "2s",
];

function controller(prefix: string, gallery: string, id: string, extra: string[] = []): Spawned {
  const p = spawnBackplane(
    [
      "controller",
      "--server",
      suite.nats.url,
      "--prefix",
      prefix,
      "--gallery",
      gallery,
      "--id",
      id,
      "--gallery-cache",
      join(suite.dir, `cache-${prefix}`),
      "--http",
      "127.0.0.1:0",
      ...FAST_CONTROLLER,
      ...extra,
    ],
    // Without --token the controller generates one here, where HTTP clients read it.
    { BACKPLANE_LOG_LEVEL: "info", XDG_RUNTIME_DIR: join(suite.dir, "run") },
  );
  suite.defer(() => stopProcess(p, "SIGKILL"));
  return p;
}

/** The token the controllers generated (they share it: one host, one file). */
async function httpToken(): Promise<string> {
  const t = await readHttpToken(join(suite.dir, "run", "backplane", "http-token"));
  if (!t) throw new Error("the controller wrote no HTTP token");
  return t;
}

/** A JSON request with the generated bearer token, as an HTTP client of the controller makes it. */
async function api(base: string, path: string, method = "GET", body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${await httpToken()}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function agent(prefix: string, nodeId: string, extra: string[] = []): { proc: Spawned; dir: string } {
  const backends = join(suite.dir, `${prefix}-${nodeId}`);
  const proc = spawnBackplane(
    [
      "agent",
      "--server",
      suite.nats.url,
      "--prefix",
      prefix,
      "--node-id",
      nodeId,
      "--backends-dir",
      backends,
      "--capability",
      "default",
      "--heartbeat-interval",
      "200ms",
      "--no-fsync",
      // The test backends' run.sh only echoes; the health probe is tested in test/agent/probe.test.ts.
      "--probe",
      "none",
      ...extra,
    ],
    { BACKPLANE_LOG_LEVEL: "info" },
  );
  suite.defer(() => stopProcess(proc, "SIGKILL"));
  return { proc, dir: backends };
}

async function httpUrl(p: Spawned): Promise<string> {
  return waitFor(
    "controller HTTP API",
    () => {
      if (p.child.exitCode !== null) throw new Error(`controller exited:\n${p.output()}`);
      const line = p
        .output()
        .split("\n")
        .find((l) => l.includes('"msg":"HTTP API listening"'));
      return line ? (JSON.parse(line) as { url?: string }).url : undefined;
    },
    20_000,
  );
}

async function client(prefix: string): Promise<ClusterClient> {
  const c = await connect(suite.nats.url, prefix);
  suite.defer(() => c.close());
  return c;
}

async function settled(c: ClusterClient, opId: string, timeoutMs = 30_000): Promise<OpRecord> {
  return waitFor(
    `op ${opId} finished`,
    async () => {
      const op = (await c.call("ops.get", { opId })).op;
      return ["succeeded", "failed", "cancelled"].includes(op.state) ? op : null;
    },
    timeoutMs,
  );
}

const metadata = async (backends: string, name: string) =>
  JSON.parse(await readFile(join(backends, name, "metadata.json"), "utf8")) as Record<string, string>;

describe("end to end with the real agent", () => {
  it("seed 001: an upgrade replaces run.sh and metadata records the new version and digest", async () => {
    const prefix = uniquePrefix();
    const v1 = await pushBackendImage(suite.registry, "e2e/up", "v", { runSh: "#!/bin/sh\necho one\n" });
    const gallery = await writeGallery(
      suite.dir,
      `- name: up\n  uri: ${v1.ref}\n  version: "1.0.0"\n`,
      `${prefix}.yaml`,
    );
    const c = await client(prefix);
    const ctl = controller(prefix, gallery, "ctl-1");
    const base = await httpUrl(ctl);
    const a = agent(prefix, "gpu-1");
    await waitFor(
      "node healthy",
      async () => (await c.get("nodes", "gpu-1"))?.value.status === "healthy",
      20_000,
    );

    const inst = await api(base, "/api/nodes/gpu-1/backends/install", "POST", { backend: "up" });
    expect(inst.status).toBe(202);
    const opId = ((await inst.json()) as { data: { admitted: Array<{ opId: string }> } }).data.admitted[0]!
      .opId;
    expect((await settled(c, opId)).state).toBe("succeeded");
    expect(await readFile(join(a.dir, "up", "run.sh"), "utf8")).toBe("#!/bin/sh\necho one\n");
    expect(await metadata(a.dir, "up")).toMatchObject({ name: "up", version: "1.0.0", digest: v1.digest });

    // A new build and a gallery bump.
    const v2 = await pushBackendImage(suite.registry, "e2e/up", "v", { runSh: "#!/bin/sh\necho two\n" });
    await writeFile(gallery, `- name: up\n  uri: ${v1.ref}\n  version: "1.1.0"\n`);
    const flagged = await waitFor("upgrade flagged", async () => {
      const r = (await (await api(base, "/api/backends/upgrades/check", "POST")).json()) as {
        data: { upgrades: Array<{ backend: string; availableVersion?: string; via: string }> };
      };
      return r.data.upgrades.find((u) => u.availableVersion === "1.1.0");
    });
    expect(flagged).toMatchObject({ backend: "up", via: "version" });
    const list = (await (await api(base, "/api/backends/upgrades")).json()) as {
      data: { upgrades: unknown[] };
    };
    expect(list.data.upgrades).toHaveLength(1);

    const up = await api(base, "/api/backends/upgrade/up", "POST");
    expect(up.status).toBe(202);
    const upId = ((await up.json()) as { data: { admitted: Array<{ opId: string }> } }).data.admitted[0]!
      .opId;
    const done = await settled(c, upId);
    expect(done).toMatchObject({
      state: "succeeded",
      kind: "upgrade",
      result: { version: "1.1.0", digest: v2.digest },
    });
    expect(await readFile(join(a.dir, "up", "run.sh"), "utf8")).toBe("#!/bin/sh\necho two\n");
    expect(await metadata(a.dir, "up")).toMatchObject({
      name: "up",
      version: "1.1.0",
      digest: v2.digest,
      uri: v1.ref,
    });
    // The controller re-checks after the successful op: nothing left to upgrade.
    await waitFor(
      "no upgrades left",
      async () => (await c.call("upgrades.list", {})).upgrades.length === 0,
      15_000,
    );
  });

  it("seed 002: an upgrade streams progress from the first second", async () => {
    const prefix = uniquePrefix();
    const payload = randomBytes(6 * 1024 * 1024); // incompressible, so the rate limit stretches the pull
    const v1 = await pushBackendImage(suite.registry, "e2e/big", "v", {
      runSh: "#!/bin/sh\necho one\n",
      files: { "blob.bin": payload },
    });
    const gallery = await writeGallery(suite.dir, `- name: big\n  uri: ${v1.ref}\n`, `${prefix}.yaml`);
    const c = await client(prefix);
    const base = await httpUrl(controller(prefix, gallery, "ctl-1"));
    agent(prefix, "n1", ["--rate-limit", "2M"]);
    await waitFor(
      "node healthy",
      async () => (await c.get("nodes", "n1"))?.value.status === "healthy",
      20_000,
    );
    const installed = await c.call("ops.install", { backend: "big", nodes: ["n1"] });
    expect(installed.refused.map((x) => `${x.nodeId}: ${x.error}`)).toEqual([]);
    const opId = installed.admitted[0]!.opId;
    expect((await settled(c, opId)).state).toBe("succeeded");
    await pushBackendImage(suite.registry, "e2e/big", "v", {
      runSh: "#!/bin/sh\necho two\n",
      files: { "blob.bin": randomBytes(6 * 1024 * 1024) },
    });

    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/events?token=${await httpToken()}`);
    suite.defer(async () => ws.close());
    // One ordered stream: progress events and op record changes, as the socket delivered them.
    const seen: Array<{ p?: ProgressEvent; op?: OpRecord }> = [];
    ws.on("message", (m) => {
      const e = JSON.parse(String(m)) as { type: string; progress?: ProgressEvent; value?: OpRecord };
      if (e.type === "progress") seen.push({ p: e.progress! });
      if (e.type === "op") seen.push({ op: e.value! });
    });
    await new Promise((r) => ws.once("open", r));
    const upId = (await c.call("ops.upgrade", { backend: "big", nodes: ["n1"] })).admitted[0]!.opId;
    const done = await settled(c, upId, 60_000);
    expect(done.state).toBe("succeeded");
    await waitFor("the op's final state on the socket", () =>
      seen.some((x) => x.op?.id === upId && x.op.state === "succeeded"),
    );
    const ended = seen.findIndex((x) => x.op?.id === upId && x.op.state === "succeeded");
    // Progress streams while the op runs, not only at its end: partial downloads arrive before
    // the op's final state does.
    const partial = seen
      .slice(0, ended)
      .filter((x) => x.p?.opId === upId && x.p.phase === "downloading")
      .filter((x) => x.p!.bytesDone > 0 && x.p!.bytesDone < (x.p!.bytesTotal ?? Infinity));
    expect(partial.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it("two replicas: kill the leader mid-check; the other finishes, no upgrade runs twice, no op lost", async () => {
    const prefix = uniquePrefix();
    const proxy = await HoldingProxy.start(suite.registry.host);
    suite.defer(() => proxy.close());
    const v1 = await pushBackendImage(suite.registry, "e2e/ha", "v", { runSh: "#!/bin/sh\necho one\n" });
    const uri = `${proxy.host}/e2e/ha:v`;
    const gallery = await writeGallery(suite.dir, `- name: ha\n  uri: ${uri}\n`, `${prefix}.yaml`);
    const c = await client(prefix);
    const a = controller(prefix, gallery, "ctl-a");
    await waitFor("ctl-a leads", () => /"msg":"became leader"/.test(a.output()), 20_000);
    const b = controller(prefix, gallery, "ctl-b");
    await httpUrl(b);
    const agents = ["n1", "n2"].map((id) => agent(prefix, id));
    await waitFor(
      "nodes healthy",
      async () => (await c.call("nodes.list", {})).nodes.filter((n) => n.status === "healthy").length === 2,
      20_000,
    );
    const installs = (await c.call("ops.install", { backend: "ha", nodes: ["n1", "n2"] })).admitted;
    for (const op of installs) expect((await settled(c, op.opId)).state).toBe("succeeded");
    expect(v1.digest).toMatch(/^sha256:/);

    await pushBackendImage(suite.registry, "e2e/ha", "v", { runSh: "#!/bin/sh\necho two\n" });
    proxy.holding = true;
    const headsBefore = proxy.heads;
    // Auto-upgrade starts a rollout; one wave and no soak keep the test to the takeover.
    await c.call("settings.set", {
      autoUpgrade: true,
      waves: "1,100%",
      soak: "0s",
      maxParallel: "100%",
      actor: "test",
    });
    await waitFor("leader's check waits on the registry", () => proxy.waiting > 0, 10_000);
    expect(proxy.heads).toBeGreaterThan(headsBefore);
    a.child.kill("SIGKILL");
    await a.exited;
    proxy.release();

    // The survivor keeps answering, takes the lease and finishes the job.
    expect((await c.call("nodes.list", {})).nodes).toHaveLength(2);
    // The bound: another replica runs the leader loops within 15 s.
    await waitFor("ctl-b leads", () => /"msg":"became leader"/.test(b.output()), 15_000);
    const upgrades = await waitFor(
      "both nodes upgraded",
      async () => {
        const ops = (await c.call("ops.list", { all: true, kind: "upgrade" })).ops;
        return ops.length === 2 && ops.every((o) => o.state === "succeeded") ? ops : null;
      },
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- ctl-b ---\n${b.output().slice(-6000)}`);
    });
    const rollouts = await waitFor("the rollout ends", async () => {
      const all = (await c.call("rollouts.list", { all: true })).rollouts;
      return all.every((r) => r.state !== "running") ? all : null;
    });
    expect(rollouts.map((r) => [r.createdBy, r.state])).toEqual([["auto-upgrade", "succeeded"]]);
    expect(upgrades.map((o) => o.requestedBy)).toEqual([
      `rollout ${rollouts[0]!.id}`,
      `rollout ${rollouts[0]!.id}`,
    ]);
    for (const ag of agents)
      expect(await readFile(join(ag.dir, "ha", "run.sh"), "utf8")).toBe("#!/bin/sh\necho two\n");
    await waitFor(
      "nothing left to upgrade",
      async () => (await c.call("upgrades.list", {})).upgrades.length === 0,
      15_000,
    );
    await c.call("upgrades.check", {});
    expect((await c.call("ops.list", { all: true, kind: "upgrade" })).ops).toHaveLength(2);
  }, 90_000);
});
