/**
 * make chaos: the scenarios of issue 13 against real processes (the built binary's agents and
 * controllers, nats-server alone and as a 3-server cluster, docker-registry behind a fault proxy),
 * each bounded in time and loops. Prints a table per scenario and the totals; exits 1 when an
 * invariant broke (anything lost, stuck, half-installed, a false offline, a server-loss window
 * of 5 s or more).
 *
 * Run: npx tsx chaos/run.ts [--scenario NAME]... [--rounds N] [--smoke] [--list]
 * (needs dist/: npx tsc -p tsconfig.build.json)
 */
import { parseArgs } from "node:util";
import { broken, formatResult, formatTotals, totals, type ScenarioResult } from "./lib/outcome.js";
import { bounded } from "./lib/procs.js";
import { SCENARIOS } from "./scenarios/index.js";

/** Each scenario's own bound; at default size the whole run is a few minutes on 2 cores. */
const SCENARIO_BOUND_MS = 6 * 60_000;

const { values } = parseArgs({
  options: {
    scenario: { type: "string", multiple: true },
    rounds: { type: "string" },
    smoke: { type: "boolean", default: false },
    list: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
  },
});

if (values.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(18)} ${s.proves}`);
  process.exit(0);
}
const wanted = values.scenario?.flatMap((s) => s.split(",")) ?? SCENARIOS.map((s) => s.name);
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
if (unknown.length) {
  console.error(
    `unknown scenario: ${unknown.join(", ")} (known: ${SCENARIOS.map((s) => s.name).join(", ")})`,
  );
  process.exit(2);
}
const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) {
  console.error("--rounds must be a positive integer");
  process.exit(2);
}

const log = values.quiet ? undefined : (line: string) => console.error(`  … ${line}`);
const results: ScenarioResult[] = [];
const failures: string[] = [];
const began = Date.now();
for (const s of SCENARIOS.filter((x) => wanted.includes(x.name))) {
  const t0 = Date.now();
  console.error(`== ${s.name} …`);
  try {
    const r = await bounded(s.name, SCENARIO_BOUND_MS, () => s.run({ rounds, smoke: values.smoke, log }));
    results.push(r);
    console.log(formatResult(r));
    console.log(`  (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  } catch (e) {
    failures.push(`${s.name}: ${(e as Error).message}`);
    console.log(`== ${s.name}: did not complete: ${(e as Error).message}\n`);
  }
}
const t = totals(results);
console.log(formatTotals(t));
console.log(`(${results.length} scenarios in ${((Date.now() - began) / 1000).toFixed(0)} s)`);
const bad = [...broken(t), ...failures];
if (bad.length) {
  console.log(`BROKEN: ${bad.join("; ")}`);
  process.exit(1);
}
process.exit(0);
