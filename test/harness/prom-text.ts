/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), enough to check what
 * /metrics serves: every sample belongs to a family declared with `# TYPE` before it, with the
 * suffixes its type allows, well-formed labels and a float value; histograms have a `+Inf` bucket
 * equal to their `_count`. Throws on the first line that breaks a rule, naming it.
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<string>(["counter", "gauge", "histogram", "summary", "untyped"]);
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [""],
  gauge: [""],
  untyped: [""],
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["", "_sum", "_count"],
};

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`bad label name ${JSON.stringify(name)} in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let j = eq + 2;
    let value = "";
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        value += next === "n" ? "\n" : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    if (name in out) throw new Error(`label ${name} twice in: ${line}`);
    out[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
  }
  return out;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    for (const f of families.values()) {
      for (const s of SUFFIXES[f.type]) if (sample === f.name + s) return f;
    }
    return undefined;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      const f = families.get(name) ?? { name, type: "untyped" as MetricType, samples: [] };
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`unknown type in: ${line}`);
        if (f.samples.length) throw new Error(`TYPE after samples in: ${line}`);
        f.type = rest as MetricType;
      } else f.help = rest;
      families.set(name, f);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const f = familyOf(m[1]!);
    if (!f) throw new Error(`sample of an undeclared family: ${line}`);
    f.samples.push({ name: m[1]!, labels: parseLabels(m[3] ?? "", line), value: parseValue(m[4]!, line) });
  }
  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const series = new Map<string, { inf?: number; count?: number }>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      const e = series.get(key) ?? {};
      if (s.name.endsWith("_bucket") && le === "+Inf") e.inf = s.value;
      if (s.name.endsWith("_count")) e.count = s.value;
      series.set(key, e);
    }
    for (const [key, e] of series) {
      if (e.inf === undefined || e.inf !== e.count) {
        throw new Error(`histogram ${f.name}${key}: +Inf bucket ${e.inf} is not the count ${e.count}`);
      }
    }
  }
  return families;
}

/** The value of the first sample `name` (with its suffix) whose labels include `labels`. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
