import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { OpRecord } from "../../src/protocol/index.js";
import { spawnBackplane } from "../harness/backplane.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { stopProcess, waitFor, type Spawned } from "../harness/proc.js";
import { parsePrometheusText, sampleValue, type Family } from "../harness/prom-text.js";
import { controllerSuite, startReplica, uniquePrefix, writeGallery } from "../controller/cluster.js";

/**
 * The agent's status endpoints (`--http`), on the real binary (dist/, built with
 * `npx tsc -p tsconfig.build.json`) against a real nats-server and docker-registry.
 */

const suite = controllerSuite("agent-endpoints", { registry: true });
const TOKEN = randomBytes(24).toString("base64url");

function agent(prefix: string, nodeId: string, extra: string[]): { proc: Spawned; dir: string } {
  const dir = join(suite.dir, `${prefix}-${nodeId}`);
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
      dir,
      "--capability",
      "default",
      "--heartbeat-interval",
      "200ms",
      "--no-fsync",
      // A probe that passes at once, so that the probe metrics move too.
      "--probe",
      "exec",
      "--probe-command",
      "test -x run.sh",
      "--http",
      "127.0.0.1:0",
      ...extra,
    ],
    { BACKPLANE_LOG_LEVEL: "info" },
  );
  suite.defer(() => stopProcess(proc, "SIGKILL"));
  return { proc, dir };
}

/** The status endpoints' URL, from the agent's "status endpoints listening" log line. */
function statusUrl(p: Spawned): Promise<string> {
  return waitFor(
    "agent status endpoints",
    () => {
      if (p.child.exitCode !== null) throw new Error(`agent exited:\n${p.output()}`);
      const line = p
        .output()
        .split("\n")
        .find((l) => l.includes('"msg":"status endpoints listening"'));
      return line ? (JSON.parse(line) as { url?: string }).url : undefined;
    },
    20_000,
  );
}

async function metrics(base: string, token?: string): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

async function readyz(
  base: string,
): Promise<{ status: number; body: { ready: boolean; checks: unknown[] } }> {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; checks: unknown[] } };
}

describe("agent --http", () => {
  it("serves /healthz, /readyz and /metrics, whose counters move after an install", async () => {
    const prefix = uniquePrefix();
    const img = await pushBackendImage(suite.registry, "endpoints/one", "v1", {
      runSh: "#!/bin/sh\necho one\n",
      files: { "blob.bin": randomBytes(64 * 1024) },
    });
    const gallery = await writeGallery(suite.dir, `- name: one\n  uri: ${img.ref}\n`, `${prefix}.yaml`);
    const ctl = await startReplica(suite.nats.url, prefix, { galleryPath: gallery });
    suite.defer(() => ctl.stop());
    const tokenFile = join(suite.dir, `${prefix}-token`);
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const a = agent(prefix, "m1", ["--http-token-file", tokenFile]);
    const base = await statusUrl(a.proc);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await waitFor("agent ready", async () => {
      const r = await readyz(base);
      return r.status === 200 ? r : undefined;
    });
    expect(ready.body).toMatchObject({
      ready: true,
      checks: [
        { name: "nats", ok: true },
        { name: "work-consumer", ok: true },
        { name: "backends-dir", ok: true },
      ],
    });
    // /metrics needs the token; the rest of the paths and methods are refused.
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);

    const before = await metrics(base, TOKEN);
    const types = Object.fromEntries([...before].map(([name, f]) => [name, f.type]));
    expect(types).toMatchObject({
      backplane_agent_ops_total: "counter",
      backplane_agent_downloaded_bytes_total: "counter",
      backplane_agent_install_duration_seconds: "histogram",
      backplane_agent_probe_duration_seconds: "histogram",
      backplane_agent_probe_failures_total: "counter",
      backplane_agent_ops_active: "gauge",
      backplane_agent_disk_free_bytes: "gauge",
      backplane_agent_generations_kept: "gauge",
      backplane_agent_heartbeat_publish_failures_total: "counter",
      backplane_agent_nats_reconnects_total: "counter",
      backplane_agent_nats_connected: "gauge",
      // prom-client's process metrics, in the agent's own registry
      process_cpu_seconds_total: "counter",
      nodejs_eventloop_lag_seconds: "gauge",
    });
    const ok = { kind: "install", outcome: "succeeded" };
    expect(sampleValue(before, "backplane_agent_ops_total", ok)).toBe(0);
    expect(sampleValue(before, "backplane_agent_downloaded_bytes_total")).toBe(0);
    expect(sampleValue(before, "backplane_agent_disk_free_bytes")).toBeGreaterThan(0);
    expect(sampleValue(before, "backplane_agent_nats_connected")).toBe(1);

    const opId = (await ctl.client.call("ops.install", { backend: "one", nodes: ["m1"] })).admitted[0]!.opId;
    const done = await waitFor(
      "install finished",
      async () => {
        const op: OpRecord = (await ctl.client.call("ops.get", { opId })).op;
        return ["succeeded", "failed", "cancelled"].includes(op.state) ? op : null;
      },
      30_000,
    );
    expect(done.state, done.error).toBe("succeeded");

    // The agent counts an op before it writes the op's final state: no wait needed here.
    const after = await metrics(base, TOKEN);
    expect(sampleValue(after, "backplane_agent_ops_total", ok)).toBe(1);
    expect(sampleValue(after, "backplane_agent_downloaded_bytes_total")).toBeGreaterThan(64 * 1024 * 0.9);
    expect(sampleValue(after, "backplane_agent_install_duration_seconds_count", ok)).toBe(1);
    expect(
      sampleValue(after, "backplane_agent_probe_duration_seconds_count", { mode: "exec", result: "passed" }),
    ).toBe(1);
    expect(sampleValue(after, "backplane_agent_probe_failures_total", { mode: "exec" })).toBe(0);
    expect(sampleValue(after, "backplane_agent_generations_kept", { backend: "one" })).toBe(0);
    expect(sampleValue(after, "backplane_agent_ops_active", { state: "running" })).toBe(0);

    // The controller's upgrade check now has an image to HEAD (no gallery version to compare
    // with): its counter moves by what it sent.
    const heads = async () => (await ctl.ctl.metrics.upgradeCheckHeads.get()).values[0]?.value ?? 0;
    const sent = await heads();
    const check = await ctl.ctl.checker.checkNow("test");
    expect(check.headRequests).toBeGreaterThanOrEqual(1);
    // At least: the check the op's success triggered may have run meanwhile.
    expect(await heads()).toBeGreaterThanOrEqual(sent + check.headRequests);
  }, 60_000);

  it("refuses to serve /metrics beyond loopback without a token", async () => {
    const p = spawnBackplane(["agent", "--server", suite.nats.url, "--http", "0.0.0.0:0"]);
    suite.defer(() => stopProcess(p, "SIGKILL"));
    await waitFor("agent exit", () => p.child.exitCode !== null, 15_000);
    expect(p.child.exitCode).not.toBe(0);
    expect(p.output()).toMatch(/refusing to serve \/metrics on 0\.0\.0\.0 without a token/);
  });

  // Last: it stops the file's nats-server.
  it("/readyz turns 503 naming nats while nats-server is stopped, and 200 once it is back", async () => {
    const prefix = uniquePrefix();
    const a = agent(prefix, "r1", []);
    const base = await statusUrl(a.proc);
    await waitFor("agent ready", async () => (await readyz(base)).status === 200, 20_000);

    await suite.nats.stop();
    const down = await waitFor(
      "readyz 503",
      async () => {
        const r = await readyz(base);
        return r.status === 503 ? r : undefined;
      },
      15_000,
    );
    expect(down.body.ready).toBe(false);
    expect(down.body.checks).toContainEqual(expect.objectContaining({ name: "nats", ok: false }));
    // The process itself still answers.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    await suite.nats.restart();
    const up = await waitFor(
      "readyz 200 again",
      async () => {
        const r = await readyz(base);
        return r.status === 200 ? r : undefined;
      },
      30_000,
    );
    expect(up.body.ready).toBe(true);
    const m = await metrics(base);
    expect(sampleValue(m, "backplane_agent_nats_reconnects_total")).toBeGreaterThanOrEqual(1);
    expect(sampleValue(m, "backplane_agent_nats_connected")).toBe(1);
  }, 60_000);
});
