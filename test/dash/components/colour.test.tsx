import { afterAll, describe, expect, it } from "vitest";

// chalk (inside Ink) decides its colour level when first imported: set it before importing anything.
process.env.FORCE_COLOR = "3";
const { renderDash, unmountAll } = await import("../helpers/render.js");
const { feed, node } = await import("../helpers/cluster.js");
const { defaultPalette, monoPalette } = await import("../../../src/theme/index.js");

afterAll(() => unmountAll());

const raw = (r: { stdout: { frames: string[] } }) => r.stdout.frames.at(-1) ?? "";
/* eslint-disable no-control-regex -- these tests are about escape sequences */

describe("colour", () => {
  it("the default palette colours status (Okabe–Ito blue for ok), inverts the selection and dims stale rows", async () => {
    const r = renderDash({ palette: defaultPalette });
    feed(r.store, { nodes: [node("gpu-01"), node("gpu-02", { seenAgoMs: 120_000, status: "offline" })] });
    await r.waitForFrame("gpu-02");
    const f = raw(r);
    // The colour level chalk picks depends on the environment: accept truecolor, 256 or 16 colours.
    const colour = String.raw`\u001B\[(?:38;[25];[\d;]+|9\d|3\d)m`;
    expect(f).toMatch(new RegExp(`${colour}✓ healthy`));
    expect(f).toMatch(new RegExp(String.raw`\u001B\[1m` + `${colour}✗ offline`));
    expect(f).toMatch(/\u001B\[7m› /);
    expect(f).toMatch(/\u001B\[2m {2}.*gpu-02/);
  });

  it("the mono palette (NO_COLOR, --no-color) has no colour at all, and the selection is still marked", async () => {
    const r = renderDash({ palette: monoPalette });
    feed(r.store, { nodes: [node("gpu-01"), node("gpu-02")] });
    await r.waitForFrame("gpu-02");
    const f = raw(r);
    expect(f).not.toMatch(/\u001B\[38;/);
    expect(r.lastFrame()).toMatch(/› ✓ healthy\s+gpu-01/);
  });
});
