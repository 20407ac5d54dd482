import { describe, expect, it } from "vitest";
import { matchesSelector, parseSelector } from "../../src/protocol/index.js";

const match = (sel: string, labels: Record<string, string>): boolean => {
  const r = parseSelector(sel);
  if (!r.ok) throw new Error(r.error);
  return matchesSelector(r.selector, labels);
};

const h100eu = { gpu: "h100", zone: "eu", tier: "a" };
const a100us = { gpu: "a100", zone: "us" };
const bare = {};

describe("label selectors", () => {
  it.each([
    ["gpu=h100", [true, false, false]],
    ["gpu==h100", [true, false, false]],
    ["gpu = h100", [true, false, false]],
    ["zone!=eu", [false, true, true]], // != also matches a node without the key
    ["tier in (a,b)", [true, false, false]],
    ["tier in ( a , b )", [true, false, false]],
    ["tier notin (a,b)", [false, true, true]],
    ["gpu", [true, true, false]],
    ["!tier", [false, true, true]],
    ["! tier", [false, true, true]],
    ["gpu,zone!=eu", [false, true, false]],
    ["gpu in (h100,a100),!tier", [false, true, false]],
    ["", [true, true, true]],
    ["example.com/pool=x", [false, false, false]],
  ])("%s", (sel, expected) => {
    expect([h100eu, a100us, bare].map((l) => match(sel, l))).toEqual(expected);
  });

  it("matches an empty value only where the label is empty", () => {
    expect(match("gpu=", { gpu: "" })).toBe(true);
    expect(match("gpu=", { gpu: "x" })).toBe(false);
    expect(match("gpu=", {})).toBe(false);
  });

  it.each([
    ["gpu=h100,", /empty requirement/],
    [",gpu", /empty requirement/],
    ["tier in (a,b", /unclosed/],
    ["tier in a,b)", /unmatched|set needs/],
    ["tier in ()", /at least one value/],
    ["tier in (a,(b))", /nested/],
    ["tier within (a)", /bad label key/],
    ["gpu=h 100", /bad label value/],
    ["=h100", /missing label key/],
    ["!", /missing label key/],
    ["gpu!h100", /bad label key/],
    ["tier in (a,b c)", /bad label value/],
    ["x".repeat(1025), /longer than 1024/],
  ])("refuses %j with a clear error", (sel, error) => {
    const r = parseSelector(sel);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it("keeps the source for display", () => {
    const r = parseSelector("gpu=h100");
    expect(r.ok && r.selector.source).toBe("gpu=h100");
  });
});
