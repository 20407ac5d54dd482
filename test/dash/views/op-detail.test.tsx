import { afterEach, describe, expect, it } from "vitest";
import type { OpRecord } from "../../../src/protocol/index.js";
import { audit, feed, NOW, op, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const LONG_ERROR =
  "fetch oci://quay.io/go-skynet/local-ai-backends:doesnotexist-cuda12-llama-cpp failed: manifest unknown (HTTP 404) after 3 mirrors were tried";

function failedUpgrade(): OpRecord {
  return op("gpu-02", {
    id: "op-up-7",
    kind: "upgrade",
    backend: "llama-cpp",
    state: "failed",
    phase: "downloading",
    error: LONG_ERROR,
    requestedBy: "alice@laptop",
    createdAt: NOW - 120_000,
    startedAt: NOW - 110_000,
    finishedAt: NOW - 50_000,
    attempts: 2,
    from: { version: "1.0.0", digest: `sha256:${"cd".repeat(32)}` },
    phases: [
      { phase: "resolving", at: NOW - 110_000 },
      { phase: "downloading", at: NOW - 108_000 },
    ],
    target: {
      name: "cuda12-llama-cpp",
      uri: "oci://quay.io/x:y",
      mirrors: [],
      version: "1.1.0",
      sha256: "ab".repeat(32),
    },
  });
}

describe("op detail view", () => {
  it("enter on an op shows every field, each phase with its time, the whole error wrapped, and its audit events", async () => {
    const failed = failedUpgrade();
    const api = fakeApi({
      "ops.history": () => ({
        events: [
          audit("op.state", NOW - 50_000, {
            opId: failed.id,
            nodeId: "gpu-02",
            backend: "llama-cpp",
            message: "running -> failed: manifest unknown",
          }),
          audit("op.created", NOW - 120_000, { opId: failed.id, nodeId: "gpu-02", backend: "llama-cpp" }),
          audit("op.created", NOW - 100_000, {
            opId: "someone-else",
            nodeId: "gpu-02",
            backend: "llama-cpp",
          }),
        ],
      }),
    });
    const r = renderDash({ api, columns: 80, rows: 40, stack: [{ id: "ops" }] });
    feed(r.store, { ...smallCluster(), ops: [failed] });
    await r.waitForFrame("upgrade llama-cpp @gpu-02");
    await r.press("enter");
    const f = await r.waitForFrame("running -> failed", "the op's audit events");
    expect(f).toContain("Operations › upgrade llama-cpp @gpu-02");
    expect(f).toMatch(/id\s+op-up-7/);
    expect(f).toMatch(/node\s+gpu-02/);
    expect(f).toMatch(/backend\s+llama-cpp \(concrete cuda12-llama-cpp\)/);
    expect(f).toMatch(/kind\s+upgrade/);
    expect(f).toMatch(/version\s+1\.0\.0 → 1\.1\.0/);
    expect(f).toMatch(/digest\s+sha256:cdcdcdcdcdcd → sha256:abababababab/);
    expect(f).toMatch(/requested by\s+alice@laptop/);
    expect(f).toMatch(/created\s+\d\d:\d\d:\d\d \(2m\d\ds ago\)/);
    expect(f).toMatch(/finished\s+\d\d:\d\d:\d\d \(5\ds ago\)/);
    expect(f).toMatch(/duration\s+1m00s/);
    expect(f).toMatch(/attempts\s+2/);
    expect(f).toMatch(/phases\s+resolve\s+\d\d:\d\d:\d\d\s+2s/);
    expect(f).toMatch(/\n\s+download\s+\d\d:\d\d:\d\d\s+58s/);
    // The whole error, in pieces no wider than the screen, nothing cut.
    const error = f.slice(f.indexOf("error "), f.indexOf("events "));
    expect(error.replace(/\s+/g, "")).toBe(`error${LONG_ERROR.replace(/\s+/g, "")}`);
    expect(error).toMatch(/manifest unknown/);
    expect(f).not.toContain("…");
    for (const line of f.split("\n")) expect(line.length).toBeLessThanOrEqual(80);
    // Only this op's events, oldest first.
    expect(f).not.toContain("someone-else");
    expect(f.indexOf("op.created")).toBeLessThan(f.indexOf("op.state"));
    expect(api.calls).toContainEqual({
      method: "ops.history",
      req: { limit: 1000, nodeId: "gpu-02", backend: "llama-cpp" },
    });
  });

  it("x, R and c act on the op from its detail view (what `can` allows), esc goes back", async () => {
    const failed = failedUpgrade();
    const running = op("gpu-01", { id: "op-run-9", backend: "whisper" });
    const api = fakeApi({
      "ops.history": () => ({ events: [] }),
      "ops.retry": () => ({ op: { ...failed, state: "queued" } }),
      "ops.dismiss": () => ({ op: { ...failed, dismissed: true } }),
      "ops.cancel": () => ({ op: { ...running, state: "cancelling" } }),
    });
    const r = renderDash({ api, stack: [{ id: "ops" }, { id: "op", param: failed.id }] });
    feed(r.store, { ...smallCluster(), ops: [failed, running] });
    await r.waitForFrame("requested by");
    await r.press("c");
    await r.waitForFrame("nothing to cancel");
    await r.press("R");
    await r.waitForFrame("Retry 1 operation");
    await r.press("y");
    await r.waitForFrame("retry: done for 1 operation");
    await r.press("x");
    await r.waitForFrame("dismiss: done for 1 operation");
    expect(api.calls.filter((c) => c.method !== "ops.history").map((c) => [c.method, c.req])).toEqual([
      ["ops.retry", { opId: "op-up-7", actor: "test@dash" }],
      ["ops.dismiss", { opId: "op-up-7", actor: "test@dash" }],
    ]);

    await r.press("esc");
    await r.waitForFrame("Operations [");
    await r.press("g", "enter");
    await r.waitForFrame("Operations › install whisper @gpu-01");
    await r.press("c");
    await r.waitForFrame("Cancel 1 operation");
    await r.press("y");
    await r.waitForFrame("cancel: done for 1 operation");
    expect(api.calls.at(-1)).toEqual({ method: "ops.cancel", req: { opId: "op-run-9", actor: "test@dash" } });
  });
});
