import { describe, expect, it } from "vitest";
import { compareVersions, isVersionUpgrade } from "../../src/gallery/index.js";

describe("compareVersions (semver when both parse, else inequality)", () => {
  const table: Array<[string, string, ReturnType<typeof compareVersions>]> = [
    ["1.2.0", "1.3.0", "newer"],
    ["1.3.0", "1.2.0", "older"], // a gallery downgrade is not an upgrade
    ["1.2.0", "1.2.0", "same"],
    ["v1.2.0", "1.2.1", "newer"],
    ["1.10.0", "1.9.0", "older"], // numeric, not lexical
    ["1.0.0-rc.1", "1.0.0", "newer"],
    ["1.0.0", "1.0.0-rc.1", "older"],
    ["2024-05-01", "2024-06-01", "different"], // not semver: any change counts
    ["abc123", "abc123", "same"],
    ["1.2", "1.3", "different"],
    [" 1.2.0 ", "1.2.0", "same"],
  ];
  for (const [installed, available, want] of table) {
    it(`${installed} -> ${available}: ${want}`, () => {
      expect(compareVersions(installed, available)).toBe(want);
      expect(isVersionUpgrade(installed, available)).toBe(want === "newer" || want === "different");
    });
  }
});
