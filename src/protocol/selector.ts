/**
 * Kubernetes label selectors over node labels (the agents' `--label`):
 * `gpu=h100`, `gpu==h100`, `zone!=eu`, `tier in (a,b)`, `tier notin (a,b)`, `gpu`, `!gpu`,
 * joined by commas (all must hold). As in Kubernetes, `!=` and `notin` also match a node
 * without the key. An empty selector matches every node.
 */

export type Requirement =
  { key: string; op: "in" | "notin"; values: string[] } | { key: string; op: "exists" | "!exists" };

export interface Selector {
  readonly source: string;
  readonly requirements: readonly Requirement[];
}

export type SelectorParse = { ok: true; selector: Selector } | { ok: false; error: string };

const KEY =
  /^([A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

/** Split on commas that are not inside parentheses. */
function splitTop(s: string): string[] | string {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) return "unmatched ')'";
    if (depth > 1) return "nested '(' is not allowed";
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) return "unclosed '('";
  out.push(cur);
  return out;
}

function checkKey(key: string, term: string): string | null {
  if (key.length === 0) return `"${term}": missing label key`;
  if (!KEY.test(key))
    return `"${term}": bad label key ${JSON.stringify(key)} (letters, digits, '-', '_', '.', optional prefix/)`;
  return null;
}

function checkValue(value: string, term: string): string | null {
  if (!VALUE.test(value)) {
    return `"${term}": bad label value ${JSON.stringify(value)} (at most 63 letters, digits, '-', '_', '.')`;
  }
  return null;
}

function parseTerm(raw: string): Requirement | string {
  const term = raw.trim();
  if (term.length === 0) return "empty requirement (two commas in a row, or a trailing comma?)";
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const [, key, op, list] = set as unknown as [string, string, "in" | "notin", string];
    const bad = checkKey(key, term);
    if (bad) return bad;
    const values = list.split(",").map((x) => x.trim());
    if (values.length === 1 && values[0] === "") return `"${term}": ${op} needs at least one value`;
    for (const v of values) {
      const badV = checkValue(v, term);
      if (badV) return badV;
    }
    return { key, op, values: [...new Set(values)] };
  }
  if (/^\S+\s+(in|notin)\b/.test(term)) {
    return `"${term}": a set needs the form KEY in (A,B) or KEY notin (A,B)`;
  }
  const cmp = /^([^=!\s]*)\s*(==|=|!=)\s*(.*)$/.exec(term);
  if (cmp) {
    const [, key, op, value] = cmp as unknown as [string, string, string, string];
    const bad = checkKey(key, term) ?? checkValue(value.trim(), term);
    if (bad) return bad;
    return { key, op: op === "!=" ? "notin" : "in", values: [value.trim()] };
  }
  if (term.startsWith("!")) {
    const key = term.slice(1).trim();
    return checkKey(key, term) ?? { key, op: "!exists" };
  }
  return checkKey(term, term) ?? { key: term, op: "exists" };
}

/** Parse a selector; the error names the requirement at fault. */
export function parseSelector(source: string): SelectorParse {
  if (source.length > 1024) return { ok: false, error: "selector longer than 1024 characters" };
  if (source.trim().length === 0) return { ok: true, selector: { source, requirements: [] } };
  const terms = splitTop(source);
  if (typeof terms === "string") return { ok: false, error: `selector ${JSON.stringify(source)}: ${terms}` };
  const requirements: Requirement[] = [];
  for (const t of terms) {
    const r = parseTerm(t);
    if (typeof r === "string") return { ok: false, error: `selector: ${r}` };
    requirements.push(r);
  }
  return { ok: true, selector: { source, requirements } };
}

export function matchesRequirement(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.op) {
    case "exists":
      return has;
    case "!exists":
      return !has;
    case "in":
      return has && r.values.includes(labels[r.key]!);
    case "notin":
      return !has || !r.values.includes(labels[r.key]!);
  }
}

/** Whether labels satisfy every requirement. */
export function matchesSelector(s: Selector, labels: Readonly<Record<string, string>>): boolean {
  return s.requirements.every((r) => matchesRequirement(r, labels));
}
