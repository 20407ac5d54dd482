import { describe, expect, it } from "vitest";
import {
  GalleryCatalog,
  concreteCompatibility,
  isMeta,
  parseGalleryIndex,
  pickCapabilityKey,
  type GalleryEntry,
} from "../../src/gallery/index.js";
import { fixtureText } from "./fixture.js";

const catalog = new GalleryCatalog(parseGalleryIndex(fixtureText(), { name: "localai", url: "x" }).entries);

describe("pickCapabilityKey (exact, else default, else cpu, else error)", () => {
  const table: Array<[Record<string, string>, string, string | RegExp]> = [
    [{ nvidia: "a", default: "b" }, "nvidia", "nvidia"],
    [{ nvidia: "a", default: "b" }, "amd", "default"],
    [{ nvidia: "a", cpu: "c" }, "amd", "cpu"],
    [{ nvidia: "a", default: "b", cpu: "c" }, "intel", "default"],
    [{ "nvidia-cuda-12": "a" }, "nvidia-cuda-12", "nvidia-cuda-12"],
    // No parent-key fallback: LocalAI goes straight to default.
    [{ nvidia: "a", default: "b" }, "nvidia-cuda-13", "default"],
    [
      { nvidia: "a" },
      "metal",
      /no build for capability metal \(and no default or cpu build\); it has: nvidia/,
    ],
  ];
  for (const [map, cap, want] of table) {
    it(`${JSON.stringify(map)} on ${cap}`, () => {
      const r = pickCapabilityKey(map, cap);
      if (typeof want === "string") expect(r).toEqual({ ok: true, key: want });
      else expect(!r.ok && r.error).toMatch(want);
    });
  }
});

describe("concreteCompatibility (LocalAI's substring rules, first family wins)", () => {
  const table: Array<[string, string, string, boolean]> = [
    ["metal-llama-cpp", "quay.io/x:latest-metal-darwin-arm64-llama-cpp", "metal", true],
    ["metal-llama-cpp", "quay.io/x:latest-metal-darwin-arm64-llama-cpp", "nvidia", false],
    ["mlx", "quay.io/x:latest-metal-darwin-arm64-mlx", "darwin-x86", true],
    ["nvidia-l4t-arm64-llama-cpp", "quay.io/x:latest-nvidia-l4t-arm64-llama-cpp", "nvidia-l4t-cuda-12", true],
    ["nvidia-l4t-arm64-llama-cpp", "quay.io/x:latest-nvidia-l4t-arm64-llama-cpp", "nvidia-cuda-12", false],
    ["cuda12-llama-cpp", "quay.io/x:latest-gpu-nvidia-cuda-12-llama-cpp", "nvidia-cuda-12", true],
    ["cuda12-llama-cpp", "quay.io/x:latest-gpu-nvidia-cuda-12-llama-cpp", "nvidia-l4t", true],
    ["cuda12-llama-cpp", "quay.io/x:latest-gpu-nvidia-cuda-12-llama-cpp", "default", false],
    ["rocm-llama-cpp", "quay.io/x:latest-gpu-rocm-hipblas-llama-cpp", "amd", true],
    ["rocm-llama-cpp", "quay.io/x:latest-gpu-rocm-hipblas-llama-cpp", "intel", false],
    ["intel-sycl-f16-llama-cpp", "quay.io/x:latest-gpu-intel-sycl-f16-llama-cpp", "intel", true],
    ["intel-sycl-f16-llama-cpp", "quay.io/x:latest-gpu-intel-sycl-f16-llama-cpp", "amd", false],
    ["cpu-llama-cpp", "quay.io/x:latest-cpu-llama-cpp", "nvidia", true],
    ["vulkan-llama-cpp", "quay.io/x:latest-gpu-vulkan-llama-cpp", "metal", true],
    ["my-backend", "127.0.0.1:5000/my-backend:1", "default", true],
  ];
  for (const [name, uri, cap, ok] of table) {
    it(`${name} on ${cap}: ${ok ? "compatible" : "refused"}`, () => {
      expect(concreteCompatibility(name, uri, cap).ok).toBe(ok);
    });
  }
});

describe("GalleryCatalog on the fixture gallery", () => {
  const capabilityKeys = [
    ...new Set(catalog.entries.flatMap((e) => Object.keys(e.capabilities ?? {}))),
  ].sort();

  it("uses the capability keys LocalAI documents", () => {
    expect(capabilityKeys).toEqual([
      "amd",
      "default",
      "intel",
      "metal",
      "metal-darwin-arm64",
      "nvidia",
      "nvidia-cuda-12",
      "nvidia-cuda-13",
      "nvidia-l4t",
      "nvidia-l4t-cuda-12",
      "nvidia-l4t-cuda-13",
      "vulkan",
    ]);
  });

  it("every meta resolves for every capability key, or says by name what is missing", () => {
    const metas = catalog.entries.filter(isMeta);
    expect(metas).toHaveLength(8);
    let resolved = 0;
    const missingTargets = new Set<string>();
    for (const meta of metas) {
      for (const cap of capabilityKeys) {
        const r = catalog.resolve(meta.name, cap);
        if (r.ok) {
          resolved++;
          expect(isMeta(r.concrete)).toBe(false);
          expect(r.meta?.name).toBe(meta.name);
          expect(r.concrete.uri).toMatch(/^quay\.io\/go-skynet\/local-ai-backends:/);
          continue;
        }
        expect(r.code).toBe("unresolvable");
        const named = /maps capability (\S+) to (\S+), which is not in any gallery/.exec(r.error);
        if (named) {
          expect(meta.capabilities?.[named[1]!]).toBe(named[2]);
          missingTargets.add(`${meta.name}->${named[2]}`);
        } else {
          expect(r.error).toMatch(
            new RegExp(
              `^${meta.name}(: no build for capability ${cap} | maps capability \\S+ to \\S+, which needs )`,
            ),
          );
        }
      }
    }
    expect(resolved).toBe(85);
    expect([...missingTargets].sort()).toEqual([
      "coqui->cuda13-coqui",
      "faster-whisper->cuda12-faster-whisper",
    ]);
    expect(catalog.missingTargets()).toHaveLength(2);
  });

  it("resolves a meta per capability, falling back to default", () => {
    const t: Array<[string, string]> = [
      ["nvidia-cuda-12", "cuda12-llama-cpp"],
      ["nvidia-cuda-13", "cuda13-llama-cpp"],
      ["nvidia-l4t-cuda-13", "cuda13-nvidia-l4t-arm64-llama-cpp"],
      ["amd", "rocm-llama-cpp"],
      ["metal", "metal-llama-cpp"],
      ["default", "cpu-llama-cpp"],
      ["metal-darwin-arm64", "cpu-llama-cpp"],
    ];
    for (const [cap, concrete] of t) {
      const r = catalog.resolve("llama-cpp", cap);
      expect(r.ok && r.concrete.name, cap).toBe(concrete);
      expect(r.ok && r.capabilityKey, cap).toBe(cap === "metal-darwin-arm64" ? "default" : cap);
    }
  });

  it("refuses a concrete built for another capability, saying what it needs", () => {
    const r = catalog.resolve("cuda12-llama-cpp", "default");
    expect(r).toMatchObject({ ok: false, code: "unresolvable" });
    expect(!r.ok && r.error).toBe("cuda12-llama-cpp needs an nvidia node; this node's capability is default");
    expect(catalog.resolve("cpu-llama-cpp", "nvidia-cuda-12").ok).toBe(true);
  });

  it("an unknown name is `unknown`, and the lookup is case-insensitive and gallery-qualified", () => {
    expect(catalog.resolve("no-such-backend", "default")).toMatchObject({ ok: false, code: "unknown" });
    expect(catalog.find("LLAMA-CPP")?.name).toBe("llama-cpp");
    expect(catalog.find("localai@llama-cpp")?.name).toBe("llama-cpp");
    expect(catalog.find("other@llama-cpp")).toBeUndefined();
  });

  it("reports duplicate names; the first one wins", () => {
    expect(catalog.duplicates.sort()).toEqual(["metal-whisper"]);
  });

  it("classifies development variants and their twins", () => {
    const dev = catalog.entries.filter((e) => catalog.classify(e).development);
    expect(dev).toHaveLength(9);
    expect(dev.filter((e) => catalog.classify(e).stableTwin)).toHaveLength(9);
    expect(catalog.classify(catalog.find("cuda12-llama-cpp-development")!)).toMatchObject({
      kind: "concrete",
      development: true,
      stableTwin: "cuda12-llama-cpp",
    });
    expect(catalog.classify(catalog.find("llama-cpp")!)).toMatchObject({
      kind: "meta",
      development: false,
      devTwin: "llama-cpp-development",
    });
    // Dev metas resolve to dev concretes and share the stable alias.
    const r = catalog.resolve("llama-cpp-development", "nvidia-cuda-12");
    expect(r.ok && r.concrete.name).toBe("cuda12-llama-cpp-development");
    expect(r.ok && r.concrete.alias).toBe("llama-cpp");
  });

  it("classifies aliases: 7 distinct, each shared by stable and development builds", () => {
    const aliases = new Set(catalog.entries.map((e) => e.alias).filter((a): a is string => !!a));
    expect(aliases.size).toBe(7);
    const llama = catalog.withAlias("llama-cpp").map((e) => e.name);
    expect(llama).toContain("cuda12-llama-cpp");
    expect(llama).toContain("cuda12-llama-cpp-development");
    expect(llama).toContain("llama-cpp-development");
  });
});

describe("alias and development-suffix resolution", () => {
  const e = (name: string, rest: Partial<GalleryEntry> = {}): GalleryEntry => ({
    name,
    gallery: "g",
    galleryUrl: "u",
    mirrors: [],
    urls: [],
    tags: [],
    ...rest,
  });
  const cat = new GalleryCatalog(
    [
      e("cuda12-foo", { alias: "foo-alias", uri: "r/x:cuda12-foo" }),
      e("cpu-foo", { alias: "foo-alias", uri: "r/x:cpu-foo" }),
      e("cpu-foo-dev", { alias: "foo-alias", uri: "r/x:cpu-foo-dev" }),
      e("bar", { alias: "bar-alias", capabilities: { default: "cpu-foo" } }),
      e("bar-dev", { alias: "bar-alias", capabilities: { default: "cpu-foo-dev" } }),
    ],
    { devSuffix: "dev" },
  );

  it("an alias-only name picks a meta first, stable before development", () => {
    const r = cat.resolve("bar-alias", "default");
    expect(r.ok && [r.meta?.name, r.concrete.name, r.alias]).toEqual(["bar", "cpu-foo", "bar-alias"]);
  });

  it("among concretes, picks a compatible stable build by the node's preferred token", () => {
    const gpu = cat.resolve("foo-alias", "nvidia-cuda-12");
    expect(gpu.ok && gpu.concrete.name).toBe("cuda12-foo");
    const cpu = cat.resolve("foo-alias", "default");
    expect(cpu.ok && cpu.concrete.name).toBe("cpu-foo");
  });

  it("uses the configured development suffix", () => {
    expect(cat.isDevelopment("cpu-foo-dev")).toBe(true);
    expect(cat.isDevelopment("cpu-foo-development")).toBe(false);
    expect(cat.classify(cat.find("cpu-foo")!).devTwin).toBe("cpu-foo-dev");
  });
});
