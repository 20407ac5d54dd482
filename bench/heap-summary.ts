/**
 * bench/heap-summary: a V8 heap snapshot summarised by what holds the bytes: self size by
 * constructor (objects) or by node type (strings, arrays, code...), largest first, and the
 * longest repeated strings' total (what interning would save).
 *
 * Run: node --max-old-space-size=8192 --import tsx bench/heap-summary.ts FILE.heapsnapshot [--top 25]
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" } },
});
const file = positionals[0];
if (!file) throw new Error("usage: heap-summary FILE.heapsnapshot [--top N]");
const TOP = Number(values.top);

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}
const snap = JSON.parse(await readFile(file, "utf8")) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const iType = fields.indexOf("type");
const iName = fields.indexOf("name");
const iSize = fields.indexOf("self_size");

const groups = new Map<string, { count: number; bytes: number }>();
const strings = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]!]!;
  const name = snap.strings[snap.nodes[i + iName]!]!;
  const size = snap.nodes[i + iSize]!;
  total += size;
  const key =
    type === "object" || type === "native" || type === "closure"
      ? `${type} ${name}`
      : type === "hidden" || type === "array"
        ? `${type} ${name.slice(0, 40)}`
        : type;
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += size;
  groups.set(key, g);
  if (type === "string" || type === "concatenated string" || type === "sliced string") {
    const s = strings.get(name) ?? { count: 0, bytes: 0 };
    s.count++;
    s.bytes += size;
    strings.set(name, s);
  }
}
const mb = (b: number) => (b / 1024 / 1024).toFixed(1).padStart(7);
console.log(`${file}: ${mb(total)} MB self size in ${snap.nodes.length / width} nodes`);
console.log("\nby constructor / type (self size):");
for (const [k, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, TOP))
  console.log(`${mb(g.bytes)} MB  ${String(g.count).padStart(9)}  ${k}`);
console.log("\nstrings held more than once (copies beyond the first):");
const dup = [...strings]
  .filter(([, s]) => s.count > 1)
  .map(([k, s]) => ({ k, extra: s.bytes - s.bytes / s.count, count: s.count }))
  .sort((a, b) => b.extra - a.extra);
console.log(`${mb(dup.reduce((t, d) => t + d.extra, 0))} MB in all`);
for (const d of dup.slice(0, TOP))
  console.log(`${mb(d.extra)} MB  ×${d.count}  ${JSON.stringify(d.k.slice(0, 60))}`);
console.log("\nlargest single strings' total by length band:");
const bands = new Map<string, number>();
for (const [k, s] of strings) {
  const band = k.length >= 4096 ? ">=4K" : k.length >= 1024 ? "1K-4K" : k.length >= 128 ? "128-1K" : "<128";
  bands.set(band, (bands.get(band) ?? 0) + s.bytes);
}
for (const [b, n] of bands) console.log(`${mb(n)} MB  ${b}`);
