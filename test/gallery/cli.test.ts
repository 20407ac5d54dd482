import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/args.js";
import { runWith } from "../../src/cli/gallery.js";
import { removeDir, tempDir } from "../harness/proc.js";
import { FIXTURE_PATH } from "./fixture.js";

async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await runWith(argv, { out: (s) => (out += s), err: (s) => (err += s) }, {});
  return { code, out, err };
}

describe("backplane gallery", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("gallery-cli");
  });
  afterAll(() => removeDir(dir));

  it("resolve prints what a node of that capability would get", async () => {
    const r = await cli("resolve", "llama-cpp", "--capability", "nvidia-cuda-12", "--gallery", FIXTURE_PATH);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^CAPABILITY\s+GETS\s+URI/);
    expect(r.out).toMatch(
      /nvidia-cuda-12\s+cuda12-llama-cpp\s+quay\.io\/go-skynet\/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp/,
    );
    const j = await cli("resolve", "llama-cpp", "--capability", "metal", "--gallery", FIXTURE_PATH, "--json");
    expect(JSON.parse(j.out)).toEqual([
      expect.objectContaining({
        capability: "metal",
        ok: true,
        concrete: "metal-llama-cpp",
        meta: "llama-cpp",
        capabilityKey: "metal",
      }),
    ]);
  });

  it("resolve without --capability covers every key, and exits 1 when one has no build", async () => {
    const r = await cli("resolve", "vllm", "--gallery", FIXTURE_PATH, "--json");
    expect(r.code).toBe(1);
    const rows = JSON.parse(r.out) as Array<{ capability: string; ok: boolean; error?: string }>;
    expect(rows).toHaveLength(12);
    expect(rows.find((x) => x.capability === "default")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/no build for capability default/),
    });
    expect(rows.find((x) => x.capability === "nvidia")?.ok).toBe(true);
  });

  it("list and show classify entries", async () => {
    const l = await cli("list", "--gallery", FIXTURE_PATH, "--json");
    const rows = JSON.parse(l.out) as Array<{ name: string; kind: string; development: boolean }>;
    expect(rows).toHaveLength(38);
    expect(rows.filter((x) => x.kind === "meta")).toHaveLength(8);
    const s = await cli("show", "llama-cpp", "--gallery", FIXTURE_PATH);
    expect(s.out).toMatch(/^name: llama-cpp$/m);
    expect(s.out).toMatch(/^kind: meta$/m);
    expect(s.out).toMatch(/^devTwin: llama-cpp-development$/m);
    expect(s.out).toMatch(/^ {2}nvidia-cuda-12 -> cuda12-llama-cpp$/m);
    expect((await cli("show", "nope", "--gallery", FIXTURE_PATH)).code).toBe(1);
  });

  it("reports a broken gallery and bad usage clearly", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "- name: x\n  uri: [oops\n");
    const r = await cli("list", "--gallery", bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/gallery bad \(.*bad\.yaml\): broken YAML at line \d+/);
    await expect(cli("list", "--dev-suffix", "dev")).rejects.toThrow(UsageError);
    // Without --gallery it asks the controller: here there is none to ask.
    await expect(cli("list", "--server", "nats://127.0.0.1:1", "--connect-timeout", "1")).rejects.toThrow(
      /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/,
    );
    await expect(cli("frobnicate", "--gallery", FIXTURE_PATH)).rejects.toThrow(
      /unknown gallery command frobnicate/,
    );
  });
});
