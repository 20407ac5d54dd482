import { describe, expect, it } from "vitest";
import { progressBar } from "../../../src/format/progress.js";
import {
  applyQuery,
  layoutColumns,
  matchesFilter,
  nextSort,
  sortLabel,
  windowStart,
  type Column,
  type Row,
} from "../../../src/format/table.js";
import { asciiRuns, displayWidth, fit, sanitize, truncate } from "../../../src/format/text.js";
import { age, bytes, duration, parseInterval, rate, shortDigest } from "../../../src/format/units.js";

describe("text", () => {
  it("measures wide and combining characters", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("日本")).toBe(4);
    expect(displayWidth("e\u0301")).toBe(1);
  });
  it("truncates with an ellipsis and never exceeds the width", () => {
    expect(truncate("nvidia-cuda-12", 8)).toBe("nvidia-…");
    expect(truncate("short", 8)).toBe("short");
    expect(displayWidth(truncate("日本語のテキスト", 5))).toBeLessThanOrEqual(5);
    expect(truncate("x", 0)).toBe("");
  });
  it("fits to an exact width, left or right", () => {
    expect(fit("ab", 4)).toBe("ab  ");
    expect(fit("ab", 4, "right")).toBe("  ab");
    expect(fit("abcdef", 4)).toBe("abc…");
  });
  it("removes control characters from record text", () => {
    expect(sanitize("a\u001b[2Jb\nc")).toBe("a [2Jb c");
  });
  it("cuts text into plain-ASCII runs and the runs between them, losing nothing", () => {
    expect(asciiRuns("✓ healthy   gpu-01…")).toEqual(["✓", " healthy   gpu-01", "…"]);
    expect(asciiRuns("██░░  45% 1.2G")).toEqual(["██░░", "  45% 1.2G"]);
    expect(asciiRuns("plain")).toEqual(["plain"]);
    expect(asciiRuns("")).toEqual([]);
    const s = "› ↑ 1.2 ≠ 日本 ok";
    expect(asciiRuns(s).join("")).toBe(s);
  });
});

describe("units", () => {
  it("formats bytes, rates, durations and ages", () => {
    expect(bytes(512)).toBe("512B");
    expect(bytes(1536)).toBe("1.5K");
    expect(bytes(200 * 1024 * 1024)).toBe("200M");
    expect(bytes(null)).toBe("-");
    expect(rate(5 * 1024 * 1024)).toBe("5.0M/s");
    expect(rate(0)).toBe("-");
    expect(duration(45)).toBe("45s");
    expect(duration(185)).toBe("3m05s");
    expect(duration(7800)).toBe("2h10m");
    expect(duration(3 * 86400 + 4 * 3600)).toBe("3d4h");
    expect(age(1_000, 31_000)).toBe("30s");
    expect(age(undefined, 1)).toBe("-");
  });
  it("parses operator intervals", () => {
    expect(parseInterval("6h")).toBe(21_600);
    expect(parseInterval("90m")).toBe(5_400);
    expect(parseInterval(" 3600 ")).toBe(3_600);
    expect(parseInterval("1d")).toBe(86_400);
    expect(parseInterval("soon")).toBeNull();
  });
  it("shortens digests", () => {
    expect(shortDigest(`sha256:${"ab".repeat(32)}`)).toBe("abababab");
    expect(shortDigest(undefined)).toBe("");
  });
});

describe("progress bar", () => {
  it("is exactly the width asked and shows the percentage", () => {
    const b = progressBar(50, 200, 14);
    expect(b).toHaveLength(14);
    expect(b).toMatch(/^█{2}░{7} {2}25%$/);
    expect(progressBar(200, 200, 14)).toMatch(/█{9} 100%$/);
  });
  it("does not invent a percentage when the total is unknown", () => {
    expect(progressBar(50, null, 14)).not.toMatch(/%/);
    expect(progressBar(50, null, 14)).toHaveLength(14);
  });
});

const cols: Column[] = [
  { id: "a", title: "A", width: 10, flex: 1 },
  { id: "b", title: "B", width: 8 },
  { id: "w", title: "WIDE", width: 12, wide: true },
];
const row = (key: string, a: string, b: string | number): Row => ({
  key,
  cells: { a: { text: a }, b: { text: String(b), sort: typeof b === "number" ? b : undefined } },
});

describe("table layout and query", () => {
  it("fills the width exactly, dropping wide columns below 100 columns", () => {
    const at80 = layoutColumns(cols, 80);
    expect(at80.map((c) => c.id)).toEqual(["a", "b"]);
    expect(2 + at80.reduce((s, c) => s + c.w, 0) + (at80.length - 1)).toBe(80);
    const at120 = layoutColumns(cols, 120);
    expect(at120.map((c) => c.id)).toEqual(["a", "b", "w"]);
  });
  it("shrinks flexible columns, then drops columns, but never overflows", () => {
    const many: Column[] = Array.from({ length: 12 }, (_, i) => ({ id: `c${i}`, title: `C${i}`, width: 9 }));
    for (const w of [30, 60, 80]) {
      const placed = layoutColumns(many, w);
      expect(2 + placed.reduce((s, c) => s + c.w, 0) + placed.length - 1).toBeLessThanOrEqual(w);
    }
  });
  it("with rows, sizes columns to their content and leaves the rest blank", () => {
    const c: Column[] = [
      { id: "name", title: "BACKEND", width: 8, identity: true },
      { id: "n1", title: "node-1", width: 11 },
      { id: "n2", title: "node-2", width: 11 },
    ];
    const rs: Row[] = [
      { key: "x", cells: { name: { text: "llama-cpp" }, n1: { text: "→cuda12-llama-cpp" } } },
    ];
    const placed = layoutColumns(c, 120, rs);
    expect(placed.map((p) => p.w)).toEqual([9, 17, 11]);
    // A grouped child's first cell is drawn with `└ `.
    const kids: Row[] = [
      { key: "g", cells: {}, children: [{ key: "k", cells: { name: { text: "x".repeat(12) } } }] },
    ];
    expect(layoutColumns(c, 120, kids)[0]!.w).toBe(14);
  });
  it("keeps identity columns whole when narrow: secondary columns shrink, then drop in their order", () => {
    const c: Column[] = [
      { id: "status", title: "STATUS", width: 11, keep: true },
      { id: "node", title: "NODE", width: 10, identity: true },
      { id: "cap", title: "CAPABILITY", width: 14, drop: 3 },
      { id: "vram", title: "VRAM", width: 5, drop: 1 },
      { id: "disk", title: "DISK", width: 5, drop: 2 },
      { id: "seen", title: "SEEN", width: 6 },
    ];
    const rs: Row[] = [
      { key: "a", cells: { node: { text: "worker-gpu-0001" }, cap: { text: "nvidia-cuda-12" } } },
    ];
    const at60 = layoutColumns(c, 60, rs);
    expect(at60.find((p) => p.id === "node")!.w).toBe(15);
    expect(at60.map((p) => p.id)).toEqual(["status", "node", "cap", "disk", "seen"]);
    expect(2 + at60.reduce((s, p) => s + p.w, 0) + at60.length - 1).toBeLessThanOrEqual(60);
    // Identity takes at most 40 %; below that it gives way only before a `keep` column would go.
    const long: Row[] = [{ key: "b", cells: { node: { text: "n".repeat(50) } } }];
    expect(layoutColumns(c, 60, long).find((p) => p.id === "node")!.w).toBe(24);
    const tight = layoutColumns(c, 26, long);
    expect(tight.map((p) => p.id)).toEqual(["status", "node"]);
    expect(tight.find((p) => p.id === "node")!.w).toBe(12);
  });
  it("filters case-insensitively, with ! to exclude, keeping groups whole", () => {
    const rows = [
      row("1", "gpu-01", 3),
      row("2", "cpu-01", 1),
      { ...row("g", "fanout", 2), children: [row("c", "GPU-09", 0)] },
    ];
    expect(applyQuery(rows, { filter: "gpu", sort: null }).map((r) => r.key)).toEqual(["1", "g", "c"]);
    expect(applyQuery(rows, { filter: "!gpu", sort: null }).map((r) => r.key)).toEqual(["2"]);
    expect(matchesFilter(row("x", "a", 1), "")).toBe(true);
  });
  it("sorts numerically by the sort value, stable, descending on request", () => {
    const rows = [row("1", "b", 10), row("2", "a", 9), row("3", "c", 100)];
    expect(applyQuery(rows, { filter: "", sort: { column: "b", desc: false } }).map((r) => r.key)).toEqual([
      "2",
      "1",
      "3",
    ]);
    expect(applyQuery(rows, { filter: "", sort: { column: "a", desc: true } }).map((r) => r.key)).toEqual([
      "3",
      "1",
      "2",
    ]);
  });
  it("cycles the sort through sortable columns and back to none", () => {
    const c: Column[] = [...cols, { id: "u", title: "U", width: 3, unsortable: true }];
    let s = nextSort(c, null);
    const seen: string[] = [];
    while (s) {
      seen.push(s.column);
      s = nextSort(c, s);
    }
    expect(seen).toEqual(["a", "b", "w"]);
  });
  it("names the sort by the column's title, never its internal id", () => {
    const matrix: Column[] = [
      { id: "backend", title: "BACKEND", width: 20 },
      { id: "n:node-1", title: "node-1", width: 11 },
    ];
    expect(sortLabel(matrix, { column: "n:node-1", desc: true })).toBe("node-1▼");
    expect(sortLabel(matrix, { column: "backend", desc: false })).toBe("BACKEND▲");
    expect(sortLabel(matrix, null)).toBe("");
  });
  it("windows around the selection", () => {
    expect(windowStart(0, 1000, 20)).toBe(0);
    expect(windowStart(500, 1000, 20)).toBe(490);
    expect(windowStart(999, 1000, 20)).toBe(980);
    expect(windowStart(5, 10, 20)).toBe(0);
  });
});

describe("truncate on hostile text", () => {
  it("keeps a multi-line error on one line", () => {
    expect(truncate("line one\nline two", 40)).toBe("line one line two");
    expect(fit("a\u001b[31mred", 10)).not.toContain("\u001b");
  });
});
