import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeReply, encodeReply } from "../../src/agent/health-grpc.js";
import { ProcessGroup, probeBackend, reapOrphanedProbes, type ProbeConfig } from "../../src/agent/probe.js";
import type { ClusterClient } from "../../src/client/index.js";
import { silentLogger } from "../../src/lib/log.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { removeDir, tempDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import {
  cancelOp,
  connectClient,
  opRecord,
  runOp,
  startAgent,
  submit,
  waitOp,
  type TestAgent,
} from "./helpers.js";
import { expectNoneRunning, runSh, type Mode } from "./health-backends.js";
import { localaiSummary } from "./localai.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function backendDir(mode: Mode, extra = ""): Promise<{ dir: string; pidfile: string }> {
  const dir = await tempDir("probe");
  dirs.push(dir);
  const pidfile = join(dir, "pids");
  await writeFile(join(dir, "run.sh"), runSh(mode, pidfile, extra));
  await chmod(join(dir, "run.sh"), 0o755);
  return { dir, pidfile };
}

const grpcProbe = (timeoutMs: number): ProbeConfig => ({ mode: "grpc", timeoutMs, killGraceMs: 1_000 });
const never = new AbortController().signal;

describe("health probe (LocalAI's backend.Backend/Health) on a staged backend", () => {
  it("passes when Health answers OK, and stops the backend and its children", async () => {
    const { dir, pidfile } = await backendDir("ok");
    const out = await probeBackend(dir, grpcProbe(20_000), never, silentLogger);
    expect(out).toMatchObject({ mode: "grpc", ran: true });
    expect(out.durationMs).toBeGreaterThan(0);
    await expectNoneRunning(pidfile);
  });

  it("fails when nothing ever listens: no answer on the address within the timeout", async () => {
    const { dir, pidfile } = await backendDir("never");
    await expect(probeBackend(dir, grpcProbe(5_000), never, silentLogger)).rejects.toThrow(
      /^health probe failed: no answer on 127\.0\.0\.1:\d+ within 5 s\nlast 1 lines of stderr:\nstarting in mode never$/,
    );
    await expectNoneRunning(pidfile);
  });

  it("fails at once when run.sh exits, with its exit code and the last lines of its stderr", async () => {
    const { dir, pidfile } = await backendDir("exit");
    const started = Date.now();
    const e = await probeBackend(dir, grpcProbe(20_000), never, silentLogger).catch((x: Error) => x);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((e as Error).message).toBe(
      "health probe failed: run.sh exited with code 1\nlast 2 lines of stderr:\n" +
        "starting in mode exit\nboom: cannot load libbackend.so",
    );
    await expectNoneRunning(pidfile);
  });

  it('fails when Health answers something else than "OK", naming the answer', async () => {
    const { dir, pidfile } = await backendDir("loading");
    await expect(probeBackend(dir, grpcProbe(5_000), never, silentLogger)).rejects.toThrow(
      /^health probe failed: answered "LOADING" instead of "OK" within 5 s/,
    );
    await expectNoneRunning(pidfile);
  });

  it("fails when the backend accepts the connection but Health never answers", async () => {
    const { dir, pidfile } = await backendDir("hang");
    await expect(probeBackend(dir, grpcProbe(5_000), never, silentLogger)).rejects.toThrow(
      /^health probe failed: no answer to Health on 127\.0\.0\.1:\d+ within 5 s \(it accepted the connection\)/,
    );
    await expectNoneRunning(pidfile);
  });

  it("kills with SIGKILL a backend that ignores SIGTERM, after the grace period", async () => {
    const { dir, pidfile } = await backendDir("hang", "--ignore-term");
    await expect(
      probeBackend(dir, { ...grpcProbe(4_000), killGraceMs: 300 }, never, silentLogger),
    ).rejects.toThrow(/no answer to Health/);
    await expectNoneRunning(pidfile);
  });

  it("a cancel stops the probe and its processes at once", async () => {
    const { dir, pidfile } = await backendDir("never");
    const ac = new AbortController();
    const p = probeBackend(dir, grpcProbe(60_000), ac.signal, silentLogger);
    await waitFor("backend started", () => readFile(pidfile, "utf8").then(Boolean, () => false));
    const reason = new Error("cancelled by test");
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    await expectNoneRunning(pidfile);
  });

  it("what a probe left running when its agent was killed is stopped by the next start", async () => {
    const { dir, pidfile } = await backendDir("hang", "--ignore-term");
    const pidDir = join(dir, "probes");
    // Stands for the agent killed -9 mid-probe: the probe's own cleanup never runs before the reaper.
    const p = probeBackend(dir, { ...grpcProbe(60_000), pidDir }, never, silentLogger).catch((e: Error) => e);
    await waitFor("backend started", () => readFile(pidfile, "utf8").then(Boolean, () => false));
    await waitFor("probe recorded", async () => (await readdir(pidDir).catch(() => [])).length === 1);
    expect(await reapOrphanedProbes(pidDir, silentLogger)).toBe(1);
    expect(await readdir(pidDir)).toEqual([]);
    expect(((await p) as Error).message).toMatch(/^health probe failed: run\.sh was killed by SIGKILL/);
    await expectNoneRunning(pidfile);
    // A record whose leader is another process now (same pid, other start time) is left alone.
    await writeFile(join(pidDir, `probe-${process.pid}`), `${process.pid} 1\n`);
    expect(await reapOrphanedProbes(pidDir, silentLogger)).toBe(0);
  });

  it("exec: runs the command in the staged directory; exit 0 passes, anything else fails with its code", async () => {
    const { dir } = await backendDir("ok");
    const exec = (command: string, timeoutMs = 10_000): ProbeConfig => ({ mode: "exec", timeoutMs, command });
    await expect(probeBackend(dir, exec("test -x run.sh"), never, silentLogger)).resolves.toMatchObject({
      mode: "exec",
      ran: true,
    });
    await expect(probeBackend(dir, exec("echo nope >&2; exit 3"), never, silentLogger)).rejects.toThrow(
      "health probe failed: the probe command exited with code 3\nlast 1 lines of stderr:\nnope",
    );
    await expect(probeBackend(dir, exec("sleep 30", 500), never, silentLogger)).rejects.toThrow(
      /^health probe failed: the probe command did not finish within 0\.5 s/,
    );
  });

  it("a process group runs its command only once released: one whose agent died first runs nothing", async () => {
    const dir = await tempDir("gate");
    dirs.push(dir);
    const ran = (name: string) => readFile(join(dir, name), "utf8").catch(() => null);
    const orphan = new ProcessGroup("/bin/sh", ["-c", "echo ran > orphan"], dir);
    // As when the agent is killed -9 between spawning and recording the group.
    orphan.child.stdin!.destroy();
    expect(await orphan.exited).toEqual({ code: 1, signal: null });
    expect(await ran("orphan")).toBeNull();
    const released = new ProcessGroup("/bin/sh", ["-c", "echo ran > released"], dir);
    released.release();
    expect(await released.exited).toEqual({ code: 0, signal: null });
    expect(await ran("released")).toBe("ran\n");
  });

  it("none: nothing runs", async () => {
    const { dir, pidfile } = await backendDir("ok");
    expect(await probeBackend(dir, { mode: "none", timeoutMs: 0 }, never, silentLogger)).toEqual({
      mode: "none",
      ran: false,
      durationMs: 0,
    });
    expect(await readFile(pidfile).catch(() => null)).toBeNull();
  });

  it("reads Reply.message among LocalAI's other Reply fields", () => {
    expect(decodeReply(encodeReply({ message: "OK" }))).toEqual({ message: "OK" });
    // message = "OK", tokens (2, varint) = 300, timing (4, double)
    const buf = Buffer.concat([
      Buffer.from([0x10, 0xac, 0x02]),
      Buffer.from([0x0a, 0x02, 0x4f, 0x4b]),
      Buffer.from([0x21]),
      Buffer.alloc(8),
    ]);
    expect(decodeReply(buf)).toEqual({ message: "OK" });
    expect(decodeReply(Buffer.alloc(0))).toEqual({ message: "" });
    expect(() => decodeReply(Buffer.from([0x0a, 0x05, 0x4f]))).toThrow(/truncated/);
  });
});

describe("agent: a new version goes live only after its health probe passed", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  let agent: TestAgent;
  let work: string;
  const nodeId = "probed";

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    client = await connectClient(nats.url);
    work = await tempDir("probe-agent");
    agent = await startAgent(nats.url, {
      nodeId,
      healthProbe: { mode: "grpc", timeoutMs: 6_000, killGraceMs: 1_000 },
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
    await removeDir(work);
  });

  async function image(name: string, tag: string, mode: Mode) {
    const pidfile = join(work, `${name}-${tag}.pids`);
    const img = await pushBackendImage(registry, `backends/${name}`, tag, {
      runSh: runSh(mode, pidfile),
      files: { VERSION: tag },
    });
    return { ...img, pidfile };
  }

  it("installs a build that answers OK and records the probe on the op's result", async () => {
    const v1 = await image("good", "1", "ok");
    const op = await runOp(client, {
      nodeId,
      kind: "install",
      backend: "good",
      target: { uri: v1.ref, version: "1" },
    });
    expect(op.result?.probe).toMatchObject({ mode: "grpc", ran: true });
    expect(op.result!.probe!.durationMs).toBeGreaterThan(0);
    // The record is the truth; progress events are rate-limited (4/s), so a probe shorter than
    // their interval may not be seen there.
    expect(op.phases?.map((p) => p.phase)).toContain("probing");
    await expectNoneRunning(v1.pidfile);
    expect((await localaiSummary(agent.dir))["good"]).toEqual([v1.ref, v1.digest, "1"]);
  });

  for (const [mode, reason] of [
    ["never", /^health probe failed: no answer on 127\.0\.0\.1:\d+ within 6 s/],
    [
      "exit",
      /^health probe failed: run\.sh exited with code 1\nlast 2 lines of stderr:\n.*\nboom: cannot load/,
    ],
    ["loading", /^health probe failed: answered "LOADING" instead of "OK" within 6 s/],
    ["hang", /^health probe failed: no answer to Health on 127\.0\.0\.1:\d+ within 6 s/],
  ] as Array<[Mode, RegExp]>) {
    const what = {
      ok: "answers OK",
      never: "never listens",
      exit: "exits at once",
      loading: 'answers "LOADING"',
      hang: "hangs after listening",
    }[mode];
    it(`an upgrade to a build that ${what} fails with its reason; the old version stays live, no process left`, async () => {
      const name = `up-${mode}`;
      const v1 = await image(name, "1", "ok");
      await runOp(client, { nodeId, kind: "install", backend: name, target: { uri: v1.ref, version: "1" } });
      const v2 = await image(name, "2", mode);
      const failures = await probeFailures();
      const opId = await submit(client, {
        nodeId,
        kind: "upgrade",
        backend: name,
        target: { uri: v2.ref, version: "2" },
      });
      await waitFor("the op record in phase probing", async () => {
        const r = await opRecord(client, nodeId, opId);
        return r?.phase === "probing" || r?.state === "failed";
      });
      const op = await waitOp(client, nodeId, opId, ["failed"]);
      expect(op.error).toMatch(reason);
      expect(op.error).toMatch(/stderr:\nstarting in mode/);
      expect((await localaiSummary(agent.dir))[name]).toEqual([v1.ref, v1.digest, "1"]);
      expect(await readFile(join(agent.dir, name, "VERSION"), "utf8")).toBe("1");
      expect(await readdir(join(agent.dir, ".staging"))).toEqual([]);
      expect(await agent.agent.store.generationIds(name)).toHaveLength(1);
      await expectNoneRunning(v2.pidfile);
      // Counted before the op's final state is written.
      expect(await probeFailures()).toBe(failures + 1);
    });
  }

  async function probeFailures(): Promise<number> {
    const m = await agent.agent.metrics.probeFailures.get();
    return m.values.find((v) => v.labels.mode === "grpc")?.value ?? 0;
  }

  it("a cancel during the probe ends the op cancelled at once, v1 live, no process left", async () => {
    const patient = await startAgent(nats.url, {
      nodeId: "patient",
      healthProbe: { mode: "grpc", timeoutMs: 60_000, killGraceMs: 1_000 },
    });
    try {
      await cancelDuringProbe(patient);
    } finally {
      await patient.stop();
    }
  });

  async function cancelDuringProbe(a: TestAgent) {
    const nodeId = a.agent.nodeId;
    const v1 = await image("cancelled", "1", "ok");
    await runOp(client, { nodeId, kind: "install", backend: "cancelled", target: { uri: v1.ref } });
    const v2 = await image("cancelled", "2", "never");
    const opId = await submit(client, {
      nodeId,
      kind: "upgrade",
      backend: "cancelled",
      target: { uri: v2.ref },
    });
    await waitFor("probing", async () => (await opRecord(client, nodeId, opId))?.phase === "probing");
    await waitFor("the backend to start", () => readFile(v2.pidfile, "utf8").then(Boolean, () => false));
    const asked = Date.now();
    await cancelOp(client, nodeId, opId);
    await waitOp(client, nodeId, opId, ["cancelled"]);
    expect(Date.now() - asked).toBeLessThan(5_000); // not the 60 s probe timeout
    await expectNoneRunning(v2.pidfile);
    expect((await localaiSummary(a.dir))["cancelled"]).toEqual([v1.ref, v1.digest, null]);
    expect(await readdir(join(a.dir, ".staging"))).toEqual([]);
  }

  it("a meta is probed through its concrete: a failing concrete leaves no meta pointer", async () => {
    const bad = await image("cpu-broken", "1", "exit");
    const op = await runOp(
      client,
      {
        nodeId,
        kind: "install",
        backend: "broken",
        target: { name: "cpu-broken", uri: bad.ref, meta: "broken", version: "1" },
      },
      "failed",
    );
    expect(op.error).toMatch(/^health probe failed: run\.sh exited with code 1/);
    const seen = await localaiSummary(agent.dir);
    expect(seen["broken"]).toBeUndefined();
    expect(seen["cpu-broken"]).toBeUndefined();
    await expectNoneRunning(bad.pidfile);
  });
});
