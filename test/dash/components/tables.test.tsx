import { describe, expect, it } from "vitest";
import { DataTable } from "../../../src/components/DataTable.js";
import { PlainTable } from "../../../src/components/PlainTable.js";
import type { Column, Row } from "../../../src/format/table.js";
import { displayWidth } from "../../../src/format/text.js";
import { plain, renderElement } from "../helpers/render.js";

const cols: Column[] = [
  { id: "name", title: "NAME", width: 10, flex: 1 },
  { id: "n", title: "N", width: 6, align: "right" },
  { id: "wide", title: "WIDE", width: 10, wide: true },
];
const rows = (n: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `r${i}`,
    cells: {
      name: { text: `row-${i}-${"x".repeat(i % 3 === 0 ? 60 : 2)}` },
      n: { text: String(i) },
      wide: { text: "w" },
    },
  }));

describe("DataTable", () => {
  it("renders only the visible window of 5 000 rows, around the selection, one line per row", () => {
    const r = renderElement(
      <DataTable columns={cols} rows={rows(5_000)} selected={2_500} width={80} height={12} sort={null} />,
    );
    const lines = plain(r.lastFrame()).split("\n");
    expect(lines).toHaveLength(12);
    expect(lines.filter((l) => l.startsWith("› "))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith("› "))).toMatch(/row-2500-/);
    expect(lines[1]).toMatch(/row-2495-/);
    expect(lines[11]).toMatch(/row-2505-/);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(80);
    r.unmount();
  });

  it("truncates with an ellipsis, right-aligns numbers, marks the sort column, drops wide columns under 100", () => {
    const r = renderElement(
      <DataTable
        columns={cols}
        rows={rows(4)}
        selected={0}
        width={50}
        height={6}
        sort={{ column: "n", desc: true }}
      />,
      50,
    );
    const f = plain(r.lastFrame());
    expect(f).toMatch(/NAME\s+N▼/);
    expect(f).not.toContain("WIDE");
    expect(f).toMatch(/row-0-x+…\s+0/);
    expect(f).toMatch(/row-1-xx\s+1\n/);
    const wide = renderElement(
      <DataTable columns={cols} rows={rows(2)} selected={0} width={120} height={4} sort={null} />,
      120,
    );
    expect(plain(wide.lastFrame())).toContain("WIDE");
    r.unmount();
    wide.unmount();
  });

  it("draws an error across the rest of the row and indents children", () => {
    const r = renderElement(
      <DataTable
        columns={cols}
        rows={[
          {
            key: "a",
            cells: { name: { text: "parent" } },
            tail: { from: "n", text: "exploded: " + "e".repeat(100) },
          },
          { key: "b", depth: 1, cells: { name: { text: "child" }, n: { text: "7" } } },
        ]}
        selected={-1}
        width={60}
        height={4}
        sort={null}
      />,
      60,
    );
    const f = plain(r.lastFrame());
    // To the end of the line, whatever the widths of the columns it covers.
    expect(f).toMatch(/ {2}parent\s+exploded: e+…\n/);
    expect(displayWidth(f.split("\n")[1]!)).toBe(60);
    expect(f).toMatch(/└ child\s+7/);
    r.unmount();
  });

  it("says why it is empty", () => {
    const r = renderElement(
      <DataTable
        columns={cols}
        rows={[]}
        selected={-1}
        width={80}
        height={5}
        sort={null}
        empty="nothing here yet"
      />,
    );
    expect(plain(r.lastFrame())).toContain("nothing here yet");
    r.unmount();
  });
});

describe("PlainTable (@alcalzone/ink-table)", () => {
  it("draws borders with one line per row (no separator between rows) and fills the width", () => {
    const r = renderElement(
      <PlainTable columns={cols} rows={rows(3)} width={50} height={10} offset={0} />,
      50,
    );
    const lines = plain(r.lastFrame()).trimEnd().split("\n");
    expect(lines).toHaveLength(3 + 4);
    expect(lines[0]).toMatch(/^┌─+┬─+┐$/);
    expect(lines[2]).toMatch(/^├─+┼─+┤$/);
    expect(lines.filter((l) => l.startsWith("├"))).toHaveLength(1);
    for (const l of lines) expect(displayWidth(l)).toBe(50);
    expect(lines[3]).toMatch(/^│ row-0-x+… │ 0\s+│$/);
    expect(lines[4]).toMatch(/^│ row-1-xx\s+│ 1\s+│$/);
    r.unmount();
  });

  it("shows the window that fits, from the offset", () => {
    const r = renderElement(<PlainTable columns={cols} rows={rows(50)} width={80} height={8} offset={10} />);
    const f = plain(r.lastFrame());
    expect(f).toContain("row-10-");
    expect(f).toContain("row-13-");
    expect(f).not.toContain("row-14-");
    expect(f).not.toContain("row-9-");
    r.unmount();
  });
});
