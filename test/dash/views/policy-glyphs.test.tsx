import { afterEach, describe, expect, it } from "vitest";
import type { PolicyRecord } from "../../../src/protocol/index.js";
import { feed, smallCluster } from "../helpers/cluster.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const AT = 1_700_000_000_000;

function cluster() {
  const policy: PolicyRecord[] = [
    { v: 1, kind: "hold", nodeId: "gpu-02", holds: [{ reason: "flaky PSU", by: "alice", at: AT }] },
    { v: 1, kind: "pin", backend: "llama-cpp", version: "1.0.0", reason: "2.0 leaks", by: "bob", at: AT },
  ];
  return { ...smallCluster(), policy };
}

describe("holds and pins show in the cells they cover, with the reason", () => {
  it("Backends matrix at 80 columns: ⏸ held, ⊤ pinned, and the selected backend's line says why", async () => {
    const r = renderDash({ columns: 80, rows: 24, stack: [{ id: "backends" }] });
    feed(r.store, cluster());
    const f = await r.waitForFrame("held on");
    const lines = f.split("\n");
    const row = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? "";
    // Columns: cpu-01, gpu-01, gpu-02 (held for every backend).
    expect(row("llama-cpp")).toMatch(/0\.9\.0≠⊤\s+1\.0\.0↑⊤\s+1\.0\.0↑⏸⊤/);
    expect(row("vllm-development")).toMatch(/0\.1\.0⏸$/);
    // whisper is installed on gpu-01 only: neither held nor pinned there.
    expect(row("whisper")).not.toMatch(/[⏸⊤]/);
    expect(f).toContain("⊤ llama-cpp pinned to 1.0.0: 2.0 leaks · ⏸ held on gpu-02 (flaky PSU)");
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    // The next backend is pinned nowhere: its line names only the hold.
    await r.press("down");
    const w = await r.waitForFrame((fr) => fr.includes("⏸ held on gpu-02") && !fr.includes("pinned to"));
    expect(w).toContain("⏸ held on gpu-02 (flaky PSU)");
  });

  it("node detail: the version cell carries the glyph and the info line the hold and the pin", async () => {
    const r = renderDash({
      columns: 80,
      rows: 24,
      stack: [{ id: "nodes" }, { id: "node", param: "gpu-02" }],
    });
    feed(r.store, cluster());
    const f = await r.waitForFrame("held for");
    expect(f).toMatch(/llama-cpp\s+1\.0\.0⏸⊤/);
    expect(f).toMatch(/vllm-development \(dev\)\s+0\.1\.0⏸ /);
    expect(f).toContain("⏸ held for every backend: flaky PSU · ⊤ llama-cpp pinned to 1.0.0: 2.0 leaks");
  });

  it("a backend's nodes: the version cell carries the glyphs and the title says why", async () => {
    const r = renderDash({
      columns: 80,
      rows: 24,
      stack: [{ id: "backends" }, { id: "backend", param: "llama-cpp" }],
    });
    feed(r.store, cluster());
    const f = await r.waitForFrame("pinned to");
    expect(f).toMatch(/gpu-02\s+.*1\.0\.0⏸⊤/);
    expect(f).toMatch(/cpu-01\s+.*0\.9\.0⊤/);
    expect(f).toContain("⊤ llama-cpp pinned to 1.0.0");
  });
});
