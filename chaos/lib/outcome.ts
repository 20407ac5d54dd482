/** What a scenario reports: rows of figures, the one-line summary in the form of issue 13, and its invariants. */

/** The invariants `make chaos` holds the cluster to; a scenario sets those it measures. */
export interface Invariants {
  lost?: number;
  stuck?: number;
  half?: number;
  falseOffline?: number;
  /** leader-kill: ops duplicated, executed twice, or a retry answered with another op id. */
  duplicated?: number;
  /** server-loss: the window of failed API calls when one of three servers dies, in ms. */
  windowMs?: number;
}

export interface ScenarioResult {
  name: string;
  /** What was done, e.g. "agent kill -9 during installs". */
  title: string;
  /** The figures as one sentence, in the form of issue 13's list. */
  summary: string;
  rows: Array<[string, string | number]>;
  invariants: Invariants;
  /** What the run saw that is not an invariant but worth reading (e.g. errors as they were worded). */
  notes?: string[];
}

export interface Scenario {
  name: string;
  /** What it proves, in one line (for --list and docs/reliability.md). */
  proves: string;
  run(o: ScenarioOptions): Promise<ScenarioResult>;
}

export interface ScenarioOptions {
  /** Loops of the scenario; each has its default. */
  rounds?: number;
  /** The short version `make test` runs. */
  smoke?: boolean;
  /** Progress lines (stderr); silent when not given. */
  log?: (line: string) => void;
}

/** The window at or above which a server loss counts as noticed. */
export const WINDOW_LIMIT_MS = 5_000;

export function formatResult(r: ScenarioResult): string {
  const width = Math.max(...r.rows.map(([k]) => k.length));
  const lines = [`== ${r.name}: ${r.title}`, ...r.rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
  lines.push(`  -> ${r.summary}`);
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  return lines.join("\n");
}

export interface Totals {
  lost: number;
  stuck: number;
  half: number;
  falseOffline: number;
  duplicated: number;
  /** The worst window; undefined when server-loss did not run. */
  windowMs?: number;
}

export function totals(results: ScenarioResult[]): Totals {
  const sum = (k: "lost" | "stuck" | "half" | "falseOffline" | "duplicated") =>
    results.reduce((n, r) => n + (r.invariants[k] ?? 0), 0);
  const windows = results.flatMap((r) =>
    r.invariants.windowMs === undefined ? [] : [r.invariants.windowMs],
  );
  return {
    lost: sum("lost"),
    stuck: sum("stuck"),
    half: sum("half"),
    falseOffline: sum("falseOffline"),
    duplicated: sum("duplicated"),
    windowMs: windows.length ? Math.max(...windows) : undefined,
  };
}

export function formatTotals(t: Totals): string {
  const window = t.windowMs === undefined ? "server-loss not run" : `server-loss window ${t.windowMs} ms`;
  const dup = t.duplicated ? `, ${t.duplicated} duplicated` : "";
  return `${t.lost} lost, ${t.stuck} stuck, ${t.half} half states, ${t.falseOffline} false offline${dup}, ${window}`;
}

/** What broke, in words; empty when every invariant holds. */
export function broken(t: Totals): string[] {
  const out: string[] = [];
  if (t.lost > 0) out.push(`${t.lost} lost`);
  if (t.stuck > 0) out.push(`${t.stuck} stuck`);
  if (t.half > 0) out.push(`${t.half} half states`);
  if (t.falseOffline > 0) out.push(`${t.falseOffline} false offline events`);
  if (t.duplicated > 0) out.push(`${t.duplicated} ops duplicated or executed twice`);
  if (t.windowMs !== undefined && t.windowMs >= WINDOW_LIMIT_MS)
    out.push(`a failed-call window of ${t.windowMs} ms (limit ${WINDOW_LIMIT_MS} ms)`);
  return out;
}
