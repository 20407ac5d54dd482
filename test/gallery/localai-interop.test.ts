import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GalleryCatalog, isMeta, parseGalleryIndex } from "../../src/gallery/index.js";
import { looksLikeOci, parseImageRef } from "../../src/oci/index.js";

/**
 * Interop with LocalAI's real backend gallery, when one is at hand: `BACKPLANE_LOCALAI_INDEX` names
 * an index.yaml (`.ci/run` sets it when ../shared/fixtures has one). Skipped otherwise, so a clone
 * alone still passes. The assertions are structural: the real index changes every week.
 */
const indexPath = process.env.BACKPLANE_LOCALAI_INDEX;

describe.skipIf(!indexPath)("LocalAI's real index.yaml ($BACKPLANE_LOCALAI_INDEX)", () => {
  const parsed = () => parseGalleryIndex(readFileSync(indexPath!, "utf8"), { name: "localai", url: "x" });

  it("parses every entry with no warnings, metas and concretes alike", () => {
    const { entries, warnings } = parsed();
    expect(warnings).toEqual([]);
    expect(entries.filter(isMeta).length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.uri).length).toBeGreaterThan(0);
  });

  it("every concrete's uri is an OCI reference or an http(s) tarball", () => {
    for (const e of parsed().entries.filter((x) => x.uri)) {
      const uri = e.uri!;
      if (looksLikeOci(uri)) expect(() => parseImageRef(uri), e.name).not.toThrow();
      else expect(uri, e.name).toMatch(/^(https?|file):\/\//);
    }
  });

  it("every meta resolves for every capability key it names, or says by name what is missing", () => {
    const catalog = new GalleryCatalog(parsed().entries);
    let resolved = 0;
    for (const meta of catalog.entries.filter(isMeta)) {
      for (const cap of Object.keys(meta.capabilities ?? {})) {
        const r = catalog.resolve(meta.name, cap);
        if (r.ok) {
          resolved++;
          expect(isMeta(r.concrete)).toBe(false);
        } else {
          expect(r.error).toMatch(new RegExp(`^${meta.name}: |^${meta.name} maps capability`));
        }
      }
    }
    expect(resolved).toBeGreaterThan(0);
  });

  it("development variants are classified, and most have a stable twin", () => {
    const catalog = new GalleryCatalog(parsed().entries);
    const dev = catalog.entries.filter((e) => catalog.classify(e).development);
    const twinned = dev.filter((e) => catalog.classify(e).stableTwin);
    expect(twinned.length).toBeGreaterThan(dev.length / 2);
  });
});
