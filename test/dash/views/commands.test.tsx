import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterClient } from "../../../src/client/cluster-client.js";
import { DEFAULT_API_TIMEOUT_MS, type ApiReply, type NodeRecord } from "../../../src/protocol/index.js";
import { NatsServer } from "../../harness/nats-server.js";
import { audit, feed, NOW, node, settings, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";
import { startResponder } from "../helpers/responder.js";

const admitted = (_backend: string, nodes: string[]): ApiReply<"ops.upgrade"> => ({
  admitted: nodes.map((nodeId, i) => ({ nodeId, opId: `op-new-${i}`, existing: false })),
  refused: [],
});

describe("commands: key → confirm → a real request to a controller peer over NATS", () => {
  let server: NatsServer;
  let client: ClusterClient;
  let responder: ReturnType<typeof startResponder>;

  const HANDLERS: Parameters<typeof startResponder>[1] = {
    "ops.upgrade": (req) => admitted(req.backend, req.nodes ?? ["gpu-01", "gpu-02", "cpu-01"]),
    "ops.reinstall": (req) => admitted(req.backend, req.nodes ?? ["gpu-01"]),
    "ops.install": (req) => ({
      admitted: (req.nodes ?? [])
        .filter((n) => n !== "gpu-02")
        .map((nodeId) => ({ nodeId, opId: `op-i-${nodeId}`, existing: false })),
      refused: (req.nodes ?? [])
        .filter((n) => n === "gpu-02")
        .map((nodeId) => ({ nodeId, error: "node is unhealthy" })),
    }),
    "ops.cancel": (req) => ({ op: { ...smallCluster().ops![0]!, id: req.opId, state: "cancelling" } }),
    "ops.dismiss": (req) => ({ op: { ...smallCluster().ops![1]!, id: req.opId, dismissed: true } }),
    "ops.retry": () => ({ error: { code: "conflict", message: "op-fail-1 was already retried" } }),
    "nodes.drain": (req) => ({ node: { ...node(req.nodeId), status: "draining" } as NodeRecord }),
    "upgrades.check": () => ({ upgrades: smallCluster().upgrades!, checkedAt: NOW, headRequests: 4 }),
    "settings.set": (req) => ({
      settings: {
        ...settings(req.autoUpgrade ?? false),
        upgradeCheckIntervalSec: req.upgradeCheckIntervalSec ?? 21_600,
      },
    }),
    "ops.history": () => ({
      events: [
        audit("op.created", NOW - 60_000, {
          nodeId: "gpu-01",
          backend: "whisper",
          message: "install requested",
        }),
        audit("op.state", NOW - 30_000, {
          nodeId: "gpu-02",
          backend: "vllm",
          op: { ...smallCluster().ops![1]! },
        }),
      ],
    }),
    "gallery.list": () => ({
      entries: [
        {
          name: "llama-cpp",
          gallery: "main",
          kind: "meta",
          development: false,
          description: "LLM inference",
          capabilities: {},
        },
        { name: "whisper", gallery: "main", kind: "concrete", development: false, version: "1.7.0" },
      ],
    }),
    "gallery.resolve": (req) => ({
      backend: req.backend,
      nodes: [],
      capabilities: (req.capabilities ?? []).map((capability) =>
        capability === "cpu"
          ? { capability, error: "no build of llama-cpp for capability cpu" }
          : { capability, concrete: "cuda12-llama-cpp" },
      ),
    }),
  };

  beforeAll(async () => {
    server = await NatsServer.start();
    client = await ClusterClient.connect({ servers: [server.url], name: "dash-test" });
    responder = startResponder(client, HANDLERS);
  });
  afterEach(() => {
    unmountAll();
    responder.calls.length = 0;
  });
  afterAll(async () => {
    responder?.stop();
    await client?.close();
    await server?.dispose();
  });

  const open = (o: Parameters<typeof renderDash>[0] = {}) => {
    const r = renderDash({ api: client, ...o });
    feed(r.store, smallCluster());
    return r;
  };
  const sent = (method: string) => responder.calls.filter((c) => c.method === method);

  it("u on a node's backend asks first (Cancel focused), y sends the upgrade and the result shows as a toast", async () => {
    const r = open({ stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    await r.waitForFrame("Nodes › gpu-01");
    await r.press("u");
    const dialog = await r.waitForFrame("Upgrade llama-cpp");
    expect(dialog).toContain("on gpu-01");
    expect(dialog).toMatch(/▸\[ No \]\s+\[ Upgrade \]/);
    await r.press("y");
    await r.waitForFrame("upgrade llama-cpp: 1 admitted");
    expect(sent("ops.upgrade")).toEqual([
      { method: "ops.upgrade", req: { backend: "llama-cpp", nodes: ["gpu-01"], actor: "test@dash" } },
    ]);
  });

  it("refusing a destructive action sends nothing: n, esc, and enter on the focused Cancel", async () => {
    const r = open({ stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    await r.waitForFrame("Nodes › gpu-01");
    for (const refuse of ["n", "esc", "enter"]) {
      await r.press("r");
      await r.waitForFrame("Reinstall llama-cpp");
      await r.press(refuse);
      const f = await r.waitForFrame("cancelled: nothing was sent");
      expect(f).not.toContain("Reinstall llama-cpp");
    }
    // Tab moves the focus to the action; then enter confirms.
    await r.press("r", "tab");
    expect(await r.waitForFrame(/\[ No \]\s+▸\[ Reinstall \]/)).toBeTruthy();
    await r.press("enter");
    await r.waitForFrame("reinstall llama-cpp: 1 admitted");
    expect(sent("ops.reinstall")).toHaveLength(1);
  });

  it("c cancels the selected op after confirming; x dismisses a failed one at once; R shows the controller's refusal", async () => {
    const r = open({ stack: [{ id: "ops" }] });
    await r.waitForFrame("install whisper @gpu-01");
    // Newest first: the running op, then the failed one.
    expect(r.lastFrame()).toMatch(/› install whisper @gpu-01[^\n]*\n\s+install vllm @gpu-02/);
    await r.press("c");
    let f = await r.waitForFrame("Cancel 1 operation");
    expect(f).toContain("install whisper @gpu-01");
    await r.press("y");
    await r.waitForFrame("cancel: done for 1 operation");
    expect(sent("ops.cancel")[0]?.req).toEqual({ opId: "op-run-1", actor: "test@dash" });

    await r.press("x");
    await r.waitForFrame("only failed operations can be dismissed");
    await r.press("j", "x");
    await r.waitForFrame("dismiss: done for 1 operation");
    expect(sent("ops.dismiss")[0]?.req).toEqual({ opId: "op-fail-1", actor: "test@dash" });

    await r.press("R");
    await r.waitForFrame("Retry 1 operation");
    await r.press("y");
    f = await r.waitForFrame("retry: 1 of 1 failed");
    expect(f).toContain("op-fail-1 was already retried");
  });

  it("D drains the selected node after confirming; U checks upgrades; a toggles auto-upgrade after confirming", async () => {
    const r = open();
    await r.waitForFrame("gpu-01");
    await r.press("j", "D");
    await r.waitForFrame("Drain gpu-01");
    await r.press("y");
    await r.waitForFrame("gpu-01 is draining");
    expect(sent("nodes.drain")[0]?.req).toMatchObject({ nodeId: "gpu-01" });

    await r.press("U");
    await r.waitForFrame("upgrade check: 1 backend upgradable (4 registry requests)");

    await r.press("a");
    await r.waitForFrame("Turn auto-upgrade ON");
    await r.press("y");
    await r.waitForFrame("auto-upgrade on");
    expect(sent("settings.set")[0]?.req).toEqual({ autoUpgrade: true, actor: "test@dash" });
  });

  it("--read-only refuses every command key, says so in the footer, and sends nothing", async () => {
    const r = open({ readOnly: true, stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    let f = await r.waitForFrame("Nodes › gpu-01");
    expect(f).toContain("READ-ONLY: commands disabled");
    expect(f).not.toMatch(/u upgrade/);
    for (const k of ["u", "r", "D", "U", "a", "i"]) {
      await r.press(k);
      f = await r.waitForFrame("read-only mode");
      expect(f).not.toMatch(/\[ No \]/);
    }
    await r.press("3");
    await r.waitForFrame("Operations [");
    for (const k of ["c", "x", "R"]) {
      r.store.getState().actions.clearToast(r.store.getState().toast?.id ?? 0);
      await r.press(k);
      await r.waitForFrame(`read-only mode: "${k}"`);
    }
    // Settings edits are commands too.
    await r.press("5", "j", "enter");
    await r.waitForFrame("read-only mode: commands are disabled");
    expect(responder.calls).toEqual([]);
    expect(r.store.getState().stack.at(-1)?.id).toBe("settings");
  });

  it("install picker: choose a backend, see per node what it resolves to or why not, select, install", async () => {
    const r = open();
    await r.waitForFrame("gpu-01");
    // gpu-01 selected in Nodes: the picker starts with it chosen.
    await r.press("j", "i");
    await r.waitForFrame("whisper");
    expect(r.lastFrame()).toContain("Install › choose a backend");
    await r.press("enter");
    let f = await r.waitForFrame("cuda12-llama-cpp");
    expect(f).toMatch(/cpu-01.*✗ no build of llama-cpp for/);
    expect(f).toMatch(/\[x\] gpu-01/);
    await r.press("enter");
    await r.waitForFrame(/install llama-cpp: 1 admitted/);
    expect(sent("ops.install")[0]?.req).toEqual({
      backend: "llama-cpp",
      nodes: ["gpu-01"],
      actor: "test@dash",
    });
    await r.waitForFrame("Operations [");

    // Again: a node that does not resolve cannot be picked; * picks all that do; refusals show.
    responder.calls.length = 0;
    await r.press("i", "enter");
    await r.waitForFrame("cuda12-llama-cpp");
    await r.press("g", "space");
    await r.waitForFrame("has no build for cpu-01");
    await r.press("*");
    f = await r.waitForFrame("2 selected");
    expect(f).toMatch(/\[x\] gpu-02/);
    await r.press("enter");
    f = await r.waitForFrame("1 refused — gpu-02: node is unhealthy");
    expect(sent("ops.install")[0]?.req.nodes).toEqual(expect.arrayContaining(["gpu-01", "gpu-02"]));
  });

  it("history loads from the controller; settings change the check interval through a prompt", async () => {
    const r = open();
    await r.press("4");
    const f = await r.waitForFrame("install requested");
    expect(f).toMatch(/op\.state\s+│ gpu-02\s+│ vllm\s+│ install ✗ failed/);
    await r.press("5");
    await r.waitForFrame("check interval");
    await r.press("j", "enter");
    await r.waitForFrame("check interval (e.g. 6h");
    for (let i = 0; i < 5; i++) await r.press("backspace");
    await r.type("soon");
    await r.press("enter");
    await r.waitForFrame('"soon" is not an interval');
    await r.press("enter");
    for (let i = 0; i < 5; i++) await r.press("backspace");
    await r.type("90m");
    await r.press("enter");
    await r.waitForFrame("check every 5400s");
    expect(sent("settings.set").at(-1)?.req).toEqual({ upgradeCheckIntervalSec: 5400, actor: "test@dash" });
  });

  it("with no controller answering, a command fails with a toast that says so, and the dashboard stays up", async () => {
    responder.stop();
    try {
      const r = open();
      await r.waitForFrame("gpu-01");
      await r.press("U");
      // A keyed call is asked again for its whole timeout (a lost server comes back in seconds).
      const f = await r.waitForFrame("upgrade check failed", undefined, DEFAULT_API_TIMEOUT_MS + 5_000);
      expect(f).toMatch(/no controller is serving bp\.api\.upgrades\.check/);
      await r.press("2");
      await r.waitForFrame("Backends [");
    } finally {
      responder = startResponder(client, HANDLERS);
    }
  });
});
