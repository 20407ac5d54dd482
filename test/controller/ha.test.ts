import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { LeaderLease } from "../../src/controller/lease.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import {
  LEASE_TTL_MS,
  connect,
  controllerSuite,
  startReplica,
  testTelemetry,
  uniquePrefix,
  waitLeader,
  writeGallery,
} from "./cluster.js";
import { installed } from "./facts.js";
import { FakeNode } from "./fake-node.js";
import { HoldingProxy } from "./holding-proxy.js";

const suite = controllerSuite("ha");

async function client(prefix: string): Promise<ClusterClient> {
  const c = await connect(suite.nats.url, prefix);
  suite.defer(() => c.close());
  return c;
}

describe("leader lease on the TTL'd leases bucket", () => {
  it("one leader at a time; renewals keep it; a crashed leader's lease expires and another takes over", async () => {
    const prefix = uniquePrefix();
    const [ca, cb] = [await client(prefix), await client(prefix)];
    const a = new LeaderLease(ca, { holder: "a", telemetry: testTelemetry() });
    const b = new LeaderLease(cb, { holder: "b", telemetry: testTelemetry() });
    const changes: string[] = [];
    a.onChange((l) => changes.push(`a:${l}`));
    b.onChange((l) => changes.push(`b:${l}`));
    await a.start();
    await b.start();
    suite.defer(() => a.stop());
    suite.defer(() => b.stop());
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    // Several TTLs later the leader still leads: it renews, the follower never wins.
    const lease = await ca.get("leases", a.key);
    await waitFor(
      "three renewals",
      async () => {
        const cur = await ca.get("leases", a.key);
        return cur && cur.revision >= lease!.revision + 3;
      },
      LEASE_TTL_MS * 4,
    );
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect((await ca.get("leases", a.key))!.value.holder).toBe("a");

    const crashedAt = Date.now();
    await a.stop(false);
    await waitFor("b takes over", () => b.isLeader(), LEASE_TTL_MS * 3);
    expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(LEASE_TTL_MS * 0.5);
    expect(changes).toEqual(["a:true", "a:false", "b:true"]);
  });

  it("a graceful stop releases the lease so the follower leads at its next try", async () => {
    const prefix = uniquePrefix();
    const a = new LeaderLease(await client(prefix), { holder: "a", telemetry: testTelemetry() });
    const b = new LeaderLease(await client(prefix), { holder: "b", telemetry: testTelemetry() });
    await a.start();
    await b.start();
    suite.defer(() => b.stop());
    await a.stop(true);
    await waitFor("b leads", () => b.isLeader(), LEASE_TTL_MS);
  });

  it("a renewal that answers only after the leader stepped down leaves it contending, and it leads again", async () => {
    const c = await client(uniquePrefix());
    // Renewals wait here while `held` is pending, as behind a blocked event loop or a slow server.
    let held = Promise.resolve();
    let release = () => {};
    let refused = 0;
    const slow = new Proxy(c, {
      get(target, p) {
        if (p === "update") {
          return async (...args: Parameters<ClusterClient["update"]>) => {
            await held;
            return target.update(...args);
          };
        }
        if (p === "create") {
          return (...args: Parameters<ClusterClient["create"]>) =>
            target.create(...args).catch((e: unknown) => {
              refused++;
              throw e;
            });
        }
        const v: unknown = Reflect.get(target, p, target);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const a = new LeaderLease(slow, { holder: "a", telemetry: testTelemetry() });
    const changes: boolean[] = [];
    a.onChange((l) => changes.push(l));
    await a.start();
    suite.defer(() => a.stop());
    expect(a.isLeader()).toBe(true);
    held = new Promise<void>((r) => (release = r));
    await waitFor("a steps down, its renewal overdue", () => changes.includes(false), LEASE_TTL_MS * 3);
    // It contends again at once and is refused (its own lease has not expired) ...
    await waitFor("a refused create", () => refused > 0);
    // ... and only then does the late renewal answer, successfully (nobody else wrote the lease).
    release();
    // The late renewal rewrote the key, which would keep it for a whole TTL; a releases it, so
    // its next contend (every quarter TTL at most) wins well before that.
    await waitFor(
      "a leads again before its late renewal could expire",
      () => a.isLeader(),
      LEASE_TTL_MS * 0.9,
    );
    expect(changes).toEqual([true, false, true]);
  });
});

describe("two controller replicas", () => {
  it("kill the leader mid-check: the other finishes the work, no upgrade runs twice, no op lost", async () => {
    const registry = await Registry.start();
    suite.defer(() => registry.dispose());
    const proxy = await HoldingProxy.start(registry.host);
    suite.defer(() => proxy.close());
    const v1 = await pushBackendImage(registry, "bp/ha", "latest", { runSh: "#!/bin/sh\necho v1\n" });
    const uri = `${proxy.host}/bp/ha:latest`;
    const prefix = uniquePrefix();
    const galleryPath = await writeGallery(suite.dir, `- name: ha\n  uri: ${uri}\n`, `${prefix}.yaml`);
    const c = await client(prefix);
    const nodes: FakeNode[] = [];
    const v2 = await pushBackendImage(registry, "bp/ha", "latest", { runSh: "#!/bin/sh\necho v2\n" });
    for (const id of ["n1", "n2", "n3"]) {
      const n = new FakeNode(c, {
        nodeId: id,
        backends: [installed("ha", { digest: v1.digest })],
        digestOf: () => v2.digest,
      });
      await n.start();
      suite.defer(() => n.stop());
      nodes.push(n);
    }

    proxy.holding = true;
    const a = await startReplica(suite.nats.url, prefix, { galleryPath, id: "ctl-a" });
    suite.defer(() => a.crash());
    await waitLeader([a]);
    const b = await startReplica(suite.nats.url, prefix, { galleryPath, id: "ctl-b" });
    suite.defer(() => b.stop());
    await waitFor("nodes registered", async () => (await c.keys("nodes")).length === 3);
    // Auto-upgrade starts a rollout; one wave and no soak keep the test to the takeover.
    await c.call("settings.set", {
      autoUpgrade: true,
      waves: "1,100%",
      soak: "0s",
      maxParallel: "100%",
      actor: "test",
    });
    // The leader's check is stuck on the registry HEAD: kill the leader right there.
    await waitFor("leader's HEAD in flight", () => proxy.waiting > 0);
    expect(b.ctl.isLeader()).toBe(false);
    await a.crash();
    // API calls are answered by the replica still up, leader or not.
    expect((await c.call("nodes.list", {})).nodes).toHaveLength(3);
    proxy.release();

    await waitFor("b takes over", () => b.ctl.isLeader(), 15_000);
    const done = await waitFor(
      "every node upgraded",
      async () => {
        const ops = (await c.call("ops.list", { all: true, kind: "upgrade" })).ops;
        return ops.length === 3 && ops.every((o) => o.state === "succeeded") ? ops : null;
      },
      15_000,
    );
    // One rollout, started by auto-upgrade, moved all three.
    const rollouts = await waitFor("the rollout ends", async () => {
      const all = (await c.call("rollouts.list", { all: true })).rollouts;
      return all.every((r) => r.state !== "running") ? all : null;
    });
    expect(rollouts.map((r) => [r.createdBy, r.state])).toEqual([["auto-upgrade", "succeeded"]]);
    expect(new Set(done.map((o) => o.requestedBy))).toEqual(new Set([`rollout ${rollouts[0]!.id}`]));
    expect(nodes.map((n) => n.ran.length)).toEqual([1, 1, 1]);
    await waitFor(
      "nothing left to upgrade",
      async () => (await c.call("upgrades.list", {})).upgrades.length === 0,
    );
    // Further checks do not start anything new.
    await c.call("upgrades.check", {});
    expect((await c.call("ops.list", { all: true, kind: "upgrade" })).ops).toHaveLength(3);
    expect(nodes.map((n) => n.ran.length)).toEqual([1, 1, 1]);
  });
});
