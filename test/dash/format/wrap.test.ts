import { describe, expect, it } from "vitest";
import { wrapText } from "../../../src/format/wrap.js";
import { displayWidth } from "../../../src/format/text.js";

describe("wrapText", () => {
  it("breaks between words, never inside one that fits on a line", () => {
    expect(wrapText("Upgrade llama-cpp on 4 nodes from 1.0.0 to 1.1.0", 20)).toEqual([
      "Upgrade llama-cpp on",
      "4 nodes from 1.0.0",
      "to 1.1.0",
    ]);
  });

  it("breaks a word longer than a line inside it, starting on the current line, and loses nothing", () => {
    const text = "fetch oci://quay.io/go-skynet/local-ai-backends:doesnotexist failed";
    const lines = wrapText(text, 24);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(24);
    expect(lines[0]).toMatch(/^fetch oci:/);
    expect(lines.join(" ").replace(/\s+/g, "")).toBe(text.replace(/\s+/g, ""));
  });

  it("keeps the text's own line breaks and never lets a control character through", () => {
    expect(wrapText("a\nb\u001b[2Jc", 10)).toEqual(["a", "b [2Jc"]);
  });
});
