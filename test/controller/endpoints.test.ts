import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { waitFor } from "../harness/proc.js";
import { parsePrometheusText, sampleValue, type Family } from "../harness/prom-text.js";
import { controllerSuite, startReplica, uniquePrefix, waitLeader, type Replica } from "./cluster.js";

/** The controller's /healthz, /readyz and /metrics on its --http listener, against a real nats-server. */

const suite = controllerSuite("controller-endpoints", { gallery: "- name: one\n  uri: file:///nowhere\n" });
const TOKEN = randomBytes(24).toString("base64url");

async function replica(): Promise<{ r: Replica; base: string }> {
  const r = await startReplica(suite.nats.url, uniquePrefix(), {
    galleryPath: suite.galleryPath,
    http: { listen: "127.0.0.1:0", token: TOKEN },
  });
  suite.defer(() => r.stop());
  return { r, base: r.ctl.httpUrl! };
}

const get = (base: string, path: string, token?: string) =>
  fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

async function metrics(base: string): Promise<Map<string, Family>> {
  const res = await get(base, "/metrics", TOKEN);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

const readyz = async (base: string) => {
  const res = await get(base, "/readyz");
  return { status: res.status, body: (await res.json()) as { ready: boolean; checks: unknown[] } };
};

describe("controller /healthz, /readyz, /metrics", () => {
  it("answers the probes without the token and /metrics only with it; its counters move", async () => {
    const { r, base } = await replica();
    await waitLeader([r]);
    expect((await get(base, "/healthz")).status).toBe(200);
    const ready = await readyz(base);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      ready: true,
      checks: [
        { name: "nats", ok: true },
        { name: "api", ok: true },
      ],
    });
    expect((await get(base, "/metrics")).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(405);

    const before = await metrics(base);
    const types = Object.fromEntries([...before].map(([name, f]) => [name, f.type]));
    expect(types).toMatchObject({
      backplane_controller_ops_admitted_total: "counter",
      backplane_controller_ops_refused_total: "counter",
      backplane_controller_api_requests_total: "counter",
      backplane_controller_api_request_duration_seconds: "histogram",
      backplane_controller_leader: "gauge",
      backplane_controller_nodes: "gauge",
      backplane_controller_ops_active: "gauge",
      backplane_controller_upgrade_check_duration_seconds: "histogram",
      backplane_controller_upgrade_check_head_requests_total: "counter",
      backplane_controller_reaper_actions_total: "counter",
      process_cpu_seconds_total: "counter",
    });
    expect(sampleValue(before, "backplane_controller_leader")).toBe(1);
    for (const status of ["healthy", "unhealthy", "offline", "draining", "pending"]) {
      expect(sampleValue(before, "backplane_controller_nodes", { status })).toBe(0);
    }
    for (const state of ["queued", "running", "cancelling"]) {
      expect(sampleValue(before, "backplane_controller_ops_active", { state })).toBe(0);
    }

    const count = (m: Map<string, Family>, method: string, code: string) =>
      sampleValue(m, "backplane_controller_api_requests_total", { method, code }) ?? 0;
    // Over HTTP: a listing, and a look-up that is not found.
    expect((await get(base, "/api/nodes", TOKEN)).status).toBe(200);
    expect((await get(base, "/api/operations/nope", TOKEN)).status).toBe(404);
    // Over NATS: an install on a node nobody knows is refused.
    const admit = await r.client.call("ops.install", { backend: "one", nodes: ["ghost"] });
    expect(admit.refused).toHaveLength(1);
    const checks = sampleValue(before, "backplane_controller_upgrade_check_duration_seconds_count") ?? 0;
    expect((await r.ctl.checker.checkNow("test")).headRequests).toBe(0);

    const after = await metrics(base);
    expect(count(after, "nodes.list", "ok")).toBe(count(before, "nodes.list", "ok") + 1);
    expect(count(after, "ops.get", "not_found")).toBe(count(before, "ops.get", "not_found") + 1);
    expect(count(after, "ops.install", "ok")).toBe(count(before, "ops.install", "ok") + 1);
    expect(
      sampleValue(after, "backplane_controller_api_request_duration_seconds_count", { method: "nodes.list" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, "backplane_controller_ops_refused_total", { kind: "install" })).toBe(1);
    expect(sampleValue(after, "backplane_controller_ops_admitted_total", { kind: "install" })).toBe(0);
    expect(sampleValue(after, "backplane_controller_upgrade_check_duration_seconds_count")).toBeGreaterThan(
      checks,
    );
    // No label carries a node or op id.
    const labelValues = [...after.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
    expect(labelValues).not.toContain("ghost");
    expect(labelValues).not.toContain("nope");
  });

  // Last: it stops the file's nats-server.
  it("/readyz turns 503 naming nats while nats-server is stopped, and 200 once it is back", async () => {
    const { base } = await replica();
    expect((await readyz(base)).status).toBe(200);
    await suite.nats.stop();
    const down = await waitFor(
      "readyz 503",
      async () => {
        const r = await readyz(base);
        return r.status === 503 ? r : undefined;
      },
      15_000,
    );
    expect(down.body.checks).toContainEqual(expect.objectContaining({ name: "nats", ok: false }));
    expect((await get(base, "/healthz")).status).toBe(200);
    await suite.nats.restart();
    await waitFor("readyz 200 again", async () => (await readyz(base)).status === 200, 30_000);
  }, 60_000);
});
