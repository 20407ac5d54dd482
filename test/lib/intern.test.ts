import { describe, expect, it } from "vitest";
import { intern, internStrings } from "../../src/lib/intern.js";

describe("internStrings", () => {
  it("leaves a parsed value equal in every field, key order and array order included", () => {
    const json = JSON.stringify({
      nodeId: "n1",
      updatedAt: 5,
      backends: [
        {
          name: "a",
          metadata: { name: "a", version: "1.0", digest: "sha256:00" },
          isMeta: false,
          generation: null,
        },
        {
          name: "7",
          metadata: { name: "7", installed_at: "x".repeat(600) },
          previousGenerations: ["g2", "g1"],
        },
      ],
      labels: { "0": "zero", "": "" },
    });
    const value: unknown = JSON.parse(json);
    expect(internStrings(value)).toBe(value);
    expect(JSON.stringify(value)).toBe(json);
  });

  it("returns an equal string, for names that are array indices and long strings too", () => {
    for (const s of [
      "backend-07",
      "42",
      "",
      "12345678901234567890",
      "sha256:" + "a".repeat(64),
      "x".repeat(2000),
    ])
      expect(intern(`${s}`)).toBe(s);
  });
});
