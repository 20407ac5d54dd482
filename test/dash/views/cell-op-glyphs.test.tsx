import { afterEach, describe, expect, it } from "vitest";
import { opStateLook } from "../../../src/theme/symbols.js";
import { feed, op, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

function cluster() {
  const f = smallCluster();
  f.ops!.push(
    op("cpu-01", { id: "op-llama-f", backend: "llama-cpp", kind: "upgrade", state: "failed", error: "boom" }),
    op("gpu-02", { id: "op-whisper-q", backend: "whisper", state: "queued", phase: undefined }),
    // Dismissed: nothing to tell any more.
    op("gpu-01", { id: "op-old", backend: "llama-cpp", state: "failed", dismissed: true }),
  );
  return f;
}

describe("an op in flight or failed shows in the backend's cell", () => {
  it("Backends matrix: ▶ running, ✗ failed, … queued install where it is not installed yet", async () => {
    const r = renderDash({ columns: 100, stack: [{ id: "backends" }] });
    feed(r.store, cluster());
    const f = await r.waitForFrame("whisper");
    const row = (name: string) => f.split("\n").find((l) => l.includes(` ${name} `)) ?? "";
    // Columns: cpu-01, gpu-01, gpu-02.
    const queued = opStateLook.queued.glyph.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(row("whisper")).toMatch(new RegExp(`·\\s+▶0\\.9\\.0\\s+${queued} install`));
    expect(row("llama-cpp")).toMatch(/✗0\.9\.0≠\s+1\.0\.0↑\s+1\.0\.0↑/);
  });

  it("node detail: the version cell carries the glyph", async () => {
    const r = renderDash({ columns: 100, stack: [{ id: "nodes" }, { id: "node", param: "gpu-01" }] });
    feed(r.store, cluster());
    const f = await r.waitForFrame("whisper");
    expect(f).toMatch(/whisper\s+▶0\.9\.0/);
    expect(f).toMatch(/llama-cpp\s+1\.0\.0/);
  });
});
