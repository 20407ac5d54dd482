import { describe, expect, it } from "vitest";
import { GalleryParseError, isMeta, parseGalleryIndex } from "../../src/gallery/index.js";
import { fixtureText } from "./fixture.js";

const src = { name: "localai", url: "file:///index.yaml" };

describe("parseGalleryIndex on a gallery in LocalAI's format", () => {
  const parsed = parseGalleryIndex(fixtureText(), src);

  it("parses every entry, with no warnings", () => {
    expect(parsed.warnings).toEqual([]);
    expect(parsed.entries).toHaveLength(38);
    expect(parsed.entries.filter(isMeta)).toHaveLength(8);
    expect(parsed.entries.filter((e) => e.uri)).toHaveLength(30);
  });

  it("applies `!!merge <<:` keys: concretes inherit alias, capabilities and description from the meta anchor", () => {
    const cuda = parsed.entries.find((e) => e.name === "cuda12-llama-cpp")!;
    expect(cuda.alias).toBe("llama-cpp");
    expect(cuda.uri).toBe("quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp");
    expect(cuda.mirrors).toEqual(["localai/localai-backends:latest-gpu-nvidia-cuda-12-llama-cpp"]);
    expect(cuda.capabilities?.nvidia).toBe("cuda12-llama-cpp");
    expect(cuda.description).toMatch(/LLM inference/);
    expect(isMeta(cuda)).toBe(false);
    expect(cuda.gallery).toBe("localai");
    expect(cuda.galleryUrl).toBe("file:///index.yaml");
  });

  it("keeps descriptive fields", () => {
    const meta = parsed.entries.find((e) => e.name === "llama-cpp")!;
    expect(isMeta(meta)).toBe(true);
    expect(meta.license).toBe("mit");
    expect(meta.urls).toContain("https://github.com/ggerganov/llama.cpp");
    expect(meta.tags).toContain("LLM");
  });
});

describe("parseGalleryIndex on bad input", () => {
  const cases: Array<{ name: string; yaml: string; error: RegExp }> = [
    { name: "broken YAML", yaml: "- name: a\n  uri: [unclosed\n", error: /broken YAML at line \d+/ },
    { name: "a mapping, not a list", yaml: "name: a\nuri: x\n", error: /must be a YAML list/ },
    { name: "a scalar", yaml: "just text", error: /must be a YAML list.*a string/ },
    { name: "unknown anchor", yaml: "- !!merge <<: *nope\n  name: x\n", error: /broken YAML/ },
  ];
  for (const c of cases) {
    it(`${c.name} throws a GalleryParseError that says why`, () => {
      expect(() => parseGalleryIndex(c.yaml, src)).toThrow(GalleryParseError);
      expect(() => parseGalleryIndex(c.yaml, src)).toThrow(c.error);
    });
  }

  it("skips bad entries with a warning naming them and keeps the rest", () => {
    const yaml = [
      "- name: good",
      "  uri: quay.io/x/y:latest",
      "  version: 1.2", // a YAML number, meant as text
      "- just a string",
      "- uri: quay.io/no/name:1",
      "- name: ../etc",
      "  uri: quay.io/x/y:1",
      "- name: nothing",
      "- name: badsha",
      "  uri: https://example.com/x.tar.gz",
      "  sha256: abc",
      "- name: badcaps",
      "  capabilities: [a, b]",
    ].join("\n");
    const r = parseGalleryIndex(yaml, src);
    expect(r.entries.map((e) => e.name)).toEqual(["good"]);
    expect(r.entries[0]!.version).toBe("1.2");
    expect(r.warnings.map((w) => w.message)).toEqual([
      "entry is a string, not a mapping",
      "entry has no name",
      'entry name "../etc" is not a valid backend name',
      "nothing: has neither a uri nor capabilities",
      "badsha: sha256 is not 64 hex digits",
      "badcaps: capabilities must be a mapping",
    ]);
    expect(r.warnings.map((w) => w.index)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("an empty document is an empty gallery", () => {
    expect(parseGalleryIndex("", src)).toEqual({ entries: [], warnings: [] });
  });
});
