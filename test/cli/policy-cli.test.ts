import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { BackendsListOutput } from "../../src/cli/backends.js";
import { DemoCluster } from "../../src/demo/cluster.js";
import type { AuditEvent } from "../../src/protocol/index.js";
import { api } from "../../src/protocol/index.js";
import { runBackplane } from "../harness/backplane.js";

/** nodes hold|unhold and backends pin|unpin, the real binary against a real local cluster. */
describe("backplane CLI: holds and pins", () => {
  const cluster = new DemoCluster({ nodes: 2, payloadBytes: 32 * 1024, rateLimit: 1024 ** 3, log: () => {} });
  let server: string;
  const cli = (...args: string[]) => runBackplane([...args, "--server", server], {}, 60_000);
  const json = async <S extends z.ZodType>(schema: S, ...args: string[]): Promise<z.infer<S>> => {
    const r = await cli(...args, "--json");
    expect(r.code, r.stderr).toBe(0);
    return schema.parse(JSON.parse(r.stdout));
  };

  beforeAll(async () => {
    await cluster.start();
    server = cluster.serverUrl;
    const r = await cli("backends", "install", "piper", "--node", "node-1,node-2", "--wait");
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await cluster.stop();
  });

  it("nodes hold keeps unforced ops off a node, nodes list shows it, --force gets through, unhold releases", async () => {
    const held = await cli("nodes", "hold", "node-1", "--reason", "disk swap");
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toBe("node-1: held for every backend: disk swap\n");
    const list = await cli("nodes", "list");
    expect(list.stdout).toMatch(/^NODE .* HELD$/m);
    expect(list.stdout).toMatch(/^node-1\b.*all: disk swap$/m);
    expect(list.stdout).toMatch(/^node-2\b.*\d$/m);
    const listed = await json(api["nodes.list"].res, "nodes", "list");
    expect(listed.holds).toEqual([
      expect.objectContaining({
        nodeId: "node-1",
        holds: [expect.objectContaining({ reason: "disk swap" })],
      }),
    ]);

    const refused = await cli("backends", "reinstall", "piper", "--node", "node-1");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "refused: node-1: node node-1 is held for every backend: disk swap; force overrides it (--force)",
    );
    const forced = await cli("backends", "reinstall", "piper", "--node", "node-1", "--force", "--wait");
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/node-1 .*piper.* succeeded/);

    const bk = await cli("nodes", "hold", "node-2", "--backend", "piper", "--json");
    expect(api["nodes.hold"].res.parse(JSON.parse(bk.stdout)).holds).toEqual([
      expect.objectContaining({ backend: "piper" }),
    ]);
    const rows = await json(BackendsListOutput, "backends", "list");
    expect(rows.backends.find((b) => b.nodeId === "node-2" && b.name === "piper")?.held?.backend).toBe(
      "piper",
    );
    expect((await cli("nodes", "unhold", "node-2")).stdout).toBe("node-2: not held\n");
    const released = await cli("nodes", "unhold", "node-1");
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toBe("node-1: not held\n");
    expect((await cli("nodes", "list")).stdout).not.toMatch(/disk swap/);

    const history = await json(api["ops.history"].res, "ops", "history");
    const kinds = history.events.map((e: AuditEvent) => `${e.kind} ${e.nodeId ?? ""}`);
    expect(kinds).toEqual(
      expect.arrayContaining(["node.hold node-1", "node.unhold node-1", "node.hold node-2"]),
    );
  }, 240_000);

  it("backends pin refuses moves past the version without --force, backends list shows it, unpin removes it", async () => {
    const pinned = await cli("backends", "pin", "piper", "0.9.0", "--reason", "1.0 is slow");
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(pinned.stdout).toBe("piper: pinned to 0.9.0: 1.0 is slow\n");
    const bad = await cli("backends", "pin", "piper", "0.9.0", "--selector", "gpu in (a");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unclosed/);

    const table = await cli("backends", "list");
    expect(table.stdout).toMatch(/HOLD \/ PIN$/m);
    expect(table.stdout).toMatch(/^node-2\s+piper\s+1\.0\.0.*piper pinned to 0\.9\.0: 1\.0 is slow$/m);
    expect(table.stdout).toMatch(/^pin: piper pinned to 0\.9\.0: 1\.0 is slow$/m);
    const rows = await json(BackendsListOutput, "backends", "list");
    expect(rows.pins.map((p) => [p.backend, p.version])).toEqual([["piper", "0.9.0"]]);
    expect(rows.backends.find((b) => b.name === "piper")?.pinned?.version).toBe("0.9.0");

    // The gallery's piper is 1.0.0: reinstalling it would take the node past the pin.
    const refused = await cli("backends", "reinstall", "piper", "--node", "node-2");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /refused: node-2: piper is pinned to 0\.9\.0 on node-2 \(1\.0 is slow\), not piper 1\.0\.0/,
    );
    const forced = await cli("backends", "reinstall", "piper", "--node", "node-2", "--force", "--wait");
    expect(forced.code, forced.stderr).toBe(0);

    const un = await cli("backends", "unpin", "piper");
    expect(un.stdout).toBe("piper: unpinned (was 0.9.0)\n");
    expect((await cli("backends", "unpin", "piper")).stdout).toBe("piper: not pinned\n");
    expect((await json(BackendsListOutput, "backends", "list")).pins).toEqual([]);
    const history = await json(api["ops.history"].res, "ops", "history", "--backend", "piper");
    expect(history.events.map((e) => e.kind)).toEqual(
      expect.arrayContaining(["backend.pin", "backend.unpin"]),
    );
  }, 240_000);

  it("completes node ids after hold and backend names after pin and --backend", async () => {
    const complete = (...words: string[]) =>
      runBackplane(["__complete", ...words], { BACKPLANE_SERVER: server });
    expect((await complete("nodes", "hold", "")).stdout.trim().split("\n")).toEqual(["node-1", "node-2"]);
    expect((await complete("nodes", "hold", "node-1", "--backend", "")).stdout.split("\n")).toContain(
      "piper",
    );
    expect((await complete("backends", "unpin", "pi")).stdout.split("\n")).toContain("piper");
    expect((await complete("nodes", "hold", "node-1", "--rea")).stdout.trim()).toBe("--reason");
  }, 240_000);

  it("usage errors exit 2", async () => {
    expect((await cli("backends", "pin", "piper")).code).toBe(2);
    expect((await cli("nodes", "hold")).code).toBe(2);
  });
});
