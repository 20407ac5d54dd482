/**
 * bench/extract-entries: the agent's extractor (the code every install runs) fed one archive of
 * many small files, streamed (never held in memory), printing peak RSS against the baseline: the
 * memory cost per archive entry, up to the default 1,000,000-entry cap.
 *
 * Run: npx tsx bench/extract-entries.ts [--entries 1000000] [--per-dir 1000] [--gzip]
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
import { Readable } from "node:stream";
import { Header } from "tar";
import { DEFAULT_LIMITS, extractStream, ExtractState } from "../src/agent/extract.js";
import { removeDir, tempDir } from "../src/demo/processes.js";
import { lineWriter } from "./lib/report.js";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: String(DEFAULT_LIMITS.maxEntries) },
    "per-dir": { type: "string", default: "1000" },
    gzip: { type: "boolean", default: false },
  },
});
const line = lineWriter(14);
const ENTRIES = Number(values.entries);
const PER_DIR = Number(values["per-dir"]);

function header(path: string, type: "File" | "Directory", size: number): Buffer {
  const block = Buffer.alloc(512);
  new Header({
    path,
    type,
    size,
    mode: type === "Directory" ? 0o755 : 0o644,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
  }).encode(block, 0);
  return block;
}

/** A tar of ENTRIES entries (directories of PER_DIR files, 16-byte bodies), in ~1 MB pieces. */
function* tarStream(): Generator<Buffer> {
  const body = Buffer.alloc(512);
  body.write("0123456789abcdef");
  let out: Buffer[] = [];
  let n = 0;
  for (let d = 0; n < ENTRIES; d++) {
    const dir = `d${d}`;
    out.push(header(`${dir}/`, "Directory", 0));
    n++;
    for (let f = 0; f < PER_DIR && n < ENTRIES; f++, n++) {
      out.push(header(`${dir}/file-${f}.txt`, "File", 16), body);
    }
    if (out.length >= 2048) {
      yield Buffer.concat(out);
      out = [];
    }
  }
  out.push(Buffer.alloc(1024));
  yield Buffer.concat(out);
}

async function main(): Promise<void> {
  const dir = await tempDir("bench-entries");
  const staging = join(dir, "staging");
  await mkdir(staging);
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  try {
    const raw = Readable.from(tarStream());
    const source = values.gzip ? raw.pipe(createGzip({ level: 1 })) : raw;
    const state = new ExtractState({ maxBytes: Number.MAX_SAFE_INTEGER, maxEntries: ENTRIES });
    await extractStream(source, { cwd: staging, state, whiteouts: true });
    peak = Math.max(peak, process.memoryUsage().rss);
    const ms = performance.now() - started;
    const mb = (b: number) => (b / 1024 / 1024).toFixed(0);
    line("entries", `${state.entries}`);
    line("wall", `${(ms / 1000).toFixed(1)} s (${Math.round(state.entries / (ms / 1000))} entries/s)`);
    line("rss baseline", `${mb(baseline)} MB`);
    line("rss peak", `${mb(peak)} MB (+${mb(peak - baseline)} MB)`);
    line("per entry", `${((peak - baseline) / state.entries).toFixed(1)} bytes`);
  } finally {
    clearInterval(sampler);
    await removeDir(dir);
  }
}

await main();
