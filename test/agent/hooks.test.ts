import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HookConfig } from "../../src/agent/hooks.js";
import type { ClusterClient } from "../../src/client/index.js";
import { NatsServer } from "../harness/nats-server.js";
import { pushBackendImage } from "../harness/oci-image.js";
import { tempDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";
import { running } from "./health-backends.js";
import { connectClient, runOp, startAgent, type TestAgent } from "./helpers.js";

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function envFile(path: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    const i = line.indexOf("=");
    if (line.startsWith("BACKPLANE_") && i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function liveVersion(dir: string, name: string): Promise<string | undefined> {
  const md = JSON.parse(await readFile(join(dir, name, "metadata.json"), "utf8")) as { version?: string };
  return md.version;
}

describe("agent hooks: --on-activate, --on-delete, --hook-timeout, --hook-failure", () => {
  let nats: NatsServer;
  let registry: Registry;
  let client: ClusterClient;
  const agents: TestAgent[] = [];
  const images: Record<string, { ref: string; digest: string }> = {};

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start()]);
    client = await connectClient(nats.url);
    // The agent's own BACKPLANE_* settings (credentials among them) are not passed to hooks.
    process.env.BACKPLANE_TEST_SECRET = "must-not-leak";
    for (const v of ["1", "2"]) {
      images[v] = await pushBackendImage(registry, "backends/hooked", v, { files: { "v.txt": v } });
    }
  });
  afterAll(async () => {
    delete process.env.BACKPLANE_TEST_SECRET;
    await Promise.all(agents.map((a) => a.stop()));
    await client?.close();
    await Promise.all([nats?.dispose(), registry?.dispose()]);
  });

  async function agentWith(nodeId: string, hooks: HookConfig): Promise<TestAgent> {
    const a = await startAgent(nats.url, { nodeId, hooks });
    agents.push(a);
    return a;
  }

  const install = (nodeId: string, kind: "install" | "upgrade", name: string, v: string) => ({
    nodeId,
    kind,
    backend: name,
    target: { uri: images[v]!.ref, version: v },
  });

  it("runs the hooks with the op's facts in BACKPLANE_* and records their exit status and output", async () => {
    const out = await tempDir("hook-out");
    const record = (what: string) =>
      `env | grep '^BACKPLANE_' > ${sh(out)}/${what}-$BACKPLANE_OP_KIND; echo "hook saw $BACKPLANE_VERSION"; echo to-stderr >&2`;
    const a = await agentWith("env", {
      onActivate: record("activate"),
      onDelete: record("delete"),
      timeoutMs: 10_000,
      failure: "warn",
    });

    const first = await runOp(client, install("env", "install", "hooked", "1"));
    expect(first.result?.hook).toMatchObject({ hook: "on-activate", ok: true, exitCode: 0 });
    expect(first.result?.hook?.output).toEqual(["hook saw 1", "to-stderr"]);
    expect(await envFile(join(out, "activate-install"))).toEqual({
      BACKPLANE_HOOK: "on-activate",
      BACKPLANE_BACKEND: "hooked",
      BACKPLANE_VERSION: "1",
      BACKPLANE_DIGEST: images["1"]!.digest,
      BACKPLANE_PATH: join(a.dir, "hooked"),
      BACKPLANE_PREVIOUS_VERSION: "",
      BACKPLANE_OP_ID: first.id,
      BACKPLANE_OP_KIND: "install",
      BACKPLANE_META: "",
    });

    const up = await runOp(client, install("env", "upgrade", "hooked", "2"));
    expect(await envFile(join(out, "activate-upgrade"))).toMatchObject({
      BACKPLANE_VERSION: "2",
      BACKPLANE_DIGEST: images["2"]!.digest,
      BACKPLANE_PREVIOUS_VERSION: "1",
      BACKPLANE_OP_ID: up.id,
      BACKPLANE_OP_KIND: "upgrade",
    });

    // Nothing changed: no hook.
    const same = await runOp(client, install("env", "upgrade", "hooked", "2"));
    expect(same.result).toMatchObject({ noop: true });
    expect(same.result?.hook).toBeUndefined();

    const back = await runOp(client, { nodeId: "env", kind: "rollback", backend: "hooked" });
    expect(await envFile(join(out, "activate-rollback"))).toMatchObject({
      BACKPLANE_VERSION: "1",
      BACKPLANE_DIGEST: images["1"]!.digest,
      BACKPLANE_PREVIOUS_VERSION: "2",
      BACKPLANE_OP_ID: back.id,
      BACKPLANE_OP_KIND: "rollback",
    });

    const del = await runOp(client, { nodeId: "env", kind: "delete", backend: "hooked" });
    expect(del.result?.hook).toMatchObject({ hook: "on-delete", ok: true, exitCode: 0 });
    expect(await envFile(join(out, "delete-delete"))).toEqual({
      BACKPLANE_HOOK: "on-delete",
      BACKPLANE_BACKEND: "hooked",
      BACKPLANE_VERSION: "",
      BACKPLANE_DIGEST: "",
      BACKPLANE_PATH: join(a.dir, "hooked"),
      BACKPLANE_PREVIOUS_VERSION: "1",
      BACKPLANE_OP_ID: del.id,
      BACKPLANE_OP_KIND: "delete",
      BACKPLANE_META: "",
    });
  });

  it("kills a hook that outlives --hook-timeout, its whole process group, even what ignores SIGTERM", async () => {
    const out = await tempDir("hook-pids");
    await agentWith("slow", {
      // The shell and its child both ignore SIGTERM: only the SIGKILL to the group stops them.
      onActivate: `trap '' TERM; echo $$ > ${sh(out)}/shell; sleep 600 & echo $! > ${sh(out)}/sleep; wait`,
      timeoutMs: 500,
      killGraceMs: 300,
      failure: "warn",
    });
    const started = Date.now();
    const op = await runOp(client, install("slow", "install", "hooked", "1"));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(op.state).toBe("succeeded");
    expect(op.result?.hook).toMatchObject({ hook: "on-activate", ok: false, exitCode: null, timedOut: true });
    const pids = [
      Number(await readFile(join(out, "shell"), "utf8")),
      Number(await readFile(join(out, "sleep"), "utf8")),
    ];
    expect(pids.every((p) => p > 1)).toBe(true);
    // The op is written once the group is gone; allow the kernel a moment to tear down.
    await waitFor(
      "the hook's processes to be gone",
      async () => {
        const alive = await Promise.all(pids.map(running));
        return alive.some(Boolean) ? null : true;
      },
      3_000,
    );
  });

  it("--hook-failure rollback: a failing hook puts the previous version back and fails the op", async () => {
    const a = await agentWith("rb", {
      onActivate: `if [ "$BACKPLANE_VERSION" = 2 ]; then echo "refusing $BACKPLANE_VERSION" >&2; exit 3; fi`,
      timeoutMs: 10_000,
      failure: "rollback",
    });
    const first = await runOp(client, install("rb", "install", "hooked", "1"));
    expect(first.result?.hook).toMatchObject({ ok: true });

    const up = await runOp(client, install("rb", "upgrade", "hooked", "2"), "failed");
    expect(up.error).toContain("the on-activate hook exited with code 3");
    expect(up.error).toContain("refusing 2");
    expect(up.error).toContain("was put back");
    expect(up.result?.hook).toMatchObject({ hook: "on-activate", ok: false, exitCode: 3 });
    expect(await liveVersion(a.dir, "hooked")).toBe("1");
    expect(await readFile(join(a.dir, "hooked", "v.txt"), "utf8")).toBe("1");
    const live = await a.agent.store.live("hooked");
    expect(live?.generation).toBe(first.result?.generation);

    // A first install whose hook fails is removed: nothing half-trusted stays live.
    const fresh = await runOp(client, install("rb", "install", "fresh", "2"), "failed");
    expect(fresh.error).toContain("was not installed before: the new version was removed");
    expect(await a.agent.store.kind("fresh")).toBe("missing");
  });

  it("--hook-failure rollback through a meta: the pointer goes back with its concrete", async () => {
    const out = await tempDir("hook-meta");
    const a = await agentWith("rbmeta", {
      onActivate: `env | grep '^BACKPLANE_' > ${sh(out)}/$BACKPLANE_VERSION; [ "$BACKPLANE_VERSION" != 2 ]`,
      timeoutMs: 10_000,
      failure: "rollback",
    });
    const viaMeta = (kind: "install" | "upgrade", v: string, meta = "mhooked") => ({
      nodeId: "rbmeta",
      kind,
      backend: meta,
      target: { name: `cpu-${meta}`, uri: images[v]!.ref, version: v, meta },
    });
    await runOp(client, viaMeta("install", "1"));
    expect(await envFile(join(out, "1"))).toMatchObject({
      BACKPLANE_BACKEND: "cpu-mhooked",
      BACKPLANE_META: "mhooked",
      BACKPLANE_PATH: join(a.dir, "cpu-mhooked"),
    });
    const up = await runOp(client, viaMeta("upgrade", "2"), "failed");
    expect(up.error).toContain("the on-activate hook exited with code 1");
    expect(await liveVersion(a.dir, "cpu-mhooked")).toBe("1");
    expect(await liveVersion(a.dir, "mhooked")).toBe("1");
    expect((await a.agent.store.readMeta("mhooked"))?.meta_backend_for).toBe("cpu-mhooked");

    await runOp(client, viaMeta("install", "2", "mfresh"), "failed");
    expect(await a.agent.store.kind("mfresh")).toBe("missing");
    expect(await a.agent.store.kind("cpu-mfresh")).toBe("missing");
  });

  it("--hook-failure warn: a failing hook is recorded and the op succeeds with the new version live", async () => {
    const a = await agentWith("warn", {
      onActivate: "echo nope; exit 7",
      timeoutMs: 10_000,
      failure: "warn",
    });
    await runOp(client, install("warn", "install", "hooked", "1"));
    const up = await runOp(client, install("warn", "upgrade", "hooked", "2"));
    expect(up.result).toMatchObject({ version: "2", noop: false });
    expect(up.result?.hook).toMatchObject({ ok: false, exitCode: 7, output: ["nope"] });
    expect(await liveVersion(a.dir, "hooked")).toBe("2");
  });
});
