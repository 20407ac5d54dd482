import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { AgentMetrics } from "../src/agent/metrics.js";
import { ControllerMetrics } from "../src/controller/metrics.js";
import { runBackplane } from "./harness/backplane.js";

/** The README is the configuration reference: every flag a role's --help prints must be in it. */
describe("README", () => {
  for (const cmd of ["agent", "controller", "dash", "demo", "publish"]) {
    it(`documents every flag of backplane ${cmd}`, async () => {
      const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
      const help = await runBackplane([cmd, "--help"]);
      expect(help.code, help.stderr).toBe(0);
      const flags = [...new Set(help.stdout.match(/--[a-z][a-z-]+/g) ?? [])];
      expect(flags.length).toBeGreaterThan(0);
      const missing = flags.filter((f) => !readme.includes(f));
      expect(missing, `missing from README: ${missing.join(", ")}`).toEqual([]);
    });
  }

  it("lists every metric the agent and the controller register, with its type and labels", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const rows = new Map(
      [...readme.matchAll(/^\| `(backplane_[a-z_]+)` \| (\w+) \|([^|]*)\|/gm)].map((m) => [
        m[1]!,
        { type: m[2]!, labels: [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]!).sort() },
      ]),
    );
    const registered = new Map<string, { type: string; labels: string[] }>();
    for (const registry of [new AgentMetrics().registry, new ControllerMetrics().registry]) {
      for (const m of registry.getMetricsAsArray()) {
        // prom-client keeps a metric's label names on it (not in its typings).
        const labels = [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])].sort();
        registered.set(m.name, { type: String(m.type), labels });
      }
    }
    expect(registered.size).toBeGreaterThan(15);
    const missing = [...registered.keys()].filter((n) => !rows.has(n));
    expect(missing, `metrics missing from the README: ${missing.join(", ")}`).toEqual([]);
    const stale = [...rows.keys()].filter((n) => !registered.has(n));
    expect(stale, `README lists metrics that do not exist: ${stale.join(", ")}`).toEqual([]);
    for (const [name, m] of registered) {
      const row = rows.get(name)!;
      expect(row.type, name).toBe(m.type);
      expect(row.labels, name).toEqual(m.labels);
    }
  });

  it("has the two-command quick start", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const quick = readme.slice(
      readme.indexOf("## Quick start"),
      readme.indexOf("## ", readme.indexOf("## Quick start") + 3),
    );
    expect(quick).toMatch(/make demo/);
    expect(quick).toMatch(/make test/);
  });

  it("make demo does not recompile when dist/ is current", async () => {
    // -o: never reinstall node_modules from here (a test must not run npm ci under other tests).
    const make = (...args: string[]) =>
      promisify(execFile)("make", ["-o", "node_modules/.installed", ...args], {
        cwd: new URL("..", import.meta.url).pathname,
      });
    await make("build"); // a no-op after `make test`'s own build
    const { stdout } = await make("-n", "demo");
    expect(stdout).not.toMatch(/\btsc\b/);
    expect(stdout).toMatch(/backplane\.js demo/);
  }, 120_000);
});
