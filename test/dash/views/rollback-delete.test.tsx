import { afterEach, describe, expect, it } from "vitest";
import type { ViewEntry } from "../../../src/store/index.js";
import { feed, installed, inventory, smallCluster } from "../helpers/cluster.js";
import { fakeApi } from "../helpers/fake-api.js";
import { renderDash, unmountAll } from "../helpers/render.js";

afterEach(unmountAll);

const CTRL_D = "\u0004";

function setup(stack: ViewEntry[]) {
  const admit = (req: { nodes?: string[] }) => ({
    admitted: (req.nodes ?? ["gpu-01", "gpu-02", "cpu-01"]).map((nodeId) => ({
      nodeId,
      opId: `op-${nodeId}`,
      existing: false,
    })),
    refused: [],
  });
  const api = fakeApi({ "ops.rollback": admit, "ops.delete": admit });
  const f = smallCluster();
  const gen = (v: string, day: string) => ({
    generation: `g-${v}`,
    version: v,
    digest: `sha256:${v.replace(/\./g, "")}${"d".repeat(60)}`,
    installedAt: `2026-11-${day}T10:00:00Z`,
  });
  f.inventories![0] = inventory("gpu-01", [
    installed("llama-cpp", "1.0.0"),
    installed("whisper", "0.9.0", {
      previousGenerations: ["g-0.8.0", "g-0.7.0"],
      previous: [gen("0.8.0", "20"), gen("0.7.0", "10")],
    }),
  ]);
  const r = renderDash({ api, columns: 100, rows: 30, stack });
  feed(r.store, f);
  return { r, api };
}

describe("rollback and delete from the dashboard", () => {
  it("node detail: b lists the kept generations (version, digest, installed at) and rolls back to the newest", async () => {
    const { r, api } = setup([{ id: "nodes" }, { id: "node", param: "gpu-01" }]);
    await r.waitForFrame("whisper");
    await r.press("b");
    await r.waitForFrame("llama-cpp on gpu-01 keeps no older generation");
    await r.press("j", "b");
    const f = await r.waitForFrame("Roll back whisper on gpu-01");
    expect(f).toMatch(/gpu-01: now 0\.9\.0/);
    expect(f).toMatch(/→ 0\.8\.0 sha256:080d{9} installed 2026-11-20 10:00/);
    expect(f).toMatch(/· 0\.7\.0 sha256:070d{9} installed 2026-11-10 10:00/);
    expect(f).toContain("It goes back to the one marked →");
    await r.press("y");
    await r.waitForFrame("rollback whisper: 1 admitted");
    expect(api.calls).toContainEqual({
      method: "ops.rollback",
      req: { backend: "whisper", nodes: ["gpu-01"], actor: "test@dash" },
    });

    await r.press(CTRL_D);
    await r.waitForFrame("Delete whisper on gpu-01");
    await r.press("y");
    await r.waitForFrame("delete whisper: 1 admitted");
    expect(api.calls.at(-1)).toEqual({
      method: "ops.delete",
      req: { backend: "whisper", nodes: ["gpu-01"], actor: "test@dash" },
    });
  });

  it("node detail: j chooses the second kept generation and the rollback names it", async () => {
    const { r, api } = setup([{ id: "nodes" }, { id: "node", param: "gpu-01" }]);
    await r.waitForFrame("whisper");
    await r.press("j", "b");
    await r.waitForFrame("j/k choose");
    await r.press("j");
    const f = await r.waitForFrame(/→ 0\.7\.0/);
    expect(f).toMatch(/· 0\.8\.0 sha256:080d{9} installed 2026-11-20 10:00/);
    expect(f).toContain("the kept ones newer than it are removed");
    await r.press("j"); // already the last one: stays
    await r.press("k", "j", "y");
    await r.waitForFrame("rollback whisper: 1 admitted");
    expect(api.calls).toEqual([
      {
        method: "ops.rollback",
        req: { backend: "whisper", nodes: ["gpu-01"], actor: "test@dash", generation: "g-0.7.0" },
      },
    ]);
  });

  it("Backends: b rolls back where a generation is kept; ctrl+d deletes everywhere after the name is typed", async () => {
    const { r, api } = setup([{ id: "backends" }]);
    await r.waitForFrame("whisper");
    await r.press("G", "b");
    await r.waitForFrame("Roll back whisper on gpu-01");
    await r.press("y");
    await r.waitForFrame("rollback whisper: 1 admitted");
    await r.press("g", CTRL_D);
    await r.waitForFrame("Delete llama-cpp everywhere");
    await r.type("llama-cpp");
    await r.press("enter");
    await r.waitForFrame("delete llama-cpp: 3 admitted");
    expect(api.calls.map((c) => [c.method, c.req])).toEqual([
      ["ops.rollback", { backend: "whisper", nodes: ["gpu-01"], actor: "test@dash" }],
      ["ops.delete", { backend: "llama-cpp", actor: "test@dash" }],
    ]);
  });
});
