import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
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
