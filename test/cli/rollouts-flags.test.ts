import { describe, expect, it } from "vitest";
import { parse } from "../../src/cli/args.js";
import { complete } from "../../src/cli/completion.js";
import { rolloutFlags, rolloutLine, subcommands } from "../../src/cli/rollouts.js";
import { commonFlags } from "../../src/cli/session.js";
import { subcommands as backendSubs } from "../../src/cli/backends.js";
import { nodesMatching, selectorOf } from "../../src/cli/targets.js";
import type { NodeRecord } from "../../src/protocol/index.js";
import { DEFAULT_STRATEGY, type Rollout } from "../../src/protocol/rollout.js";
import { parseSelector } from "../../src/protocol/selector.js";

const start = (...argv: string[]) => parse(argv, { ...commonFlags, ...subcommands.start!.flags });
const op = (...argv: string[]) => parse(argv, { ...commonFlags, ...backendSubs.install!.flags });

describe("rollouts flags", () => {
  it("turns strategy flags into the request fields, leaving out what was not given", () => {
    expect(rolloutFlags(start("llama-cpp"))).toEqual({});
    expect(
      rolloutFlags(
        start(
          "llama-cpp",
          "-l",
          "gpu=h100,zone!=eu",
          "--waves",
          "1,25%,100%",
          "--max-parallel",
          "2",
          "--soak",
          "2m",
          "--max-failures",
          "5%",
          "--no-auto-promote",
          "--auto-revert",
        ),
      ),
    ).toEqual({
      selector: "gpu=h100,zone!=eu",
      waves: "1,25%,100%",
      maxParallel: "2",
      soak: "2m",
      maxFailures: "5%",
      autoPromote: false,
      autoRevert: true,
    });
    expect(rolloutFlags(start("x", "--node", "a,b", "--node", "c"))).toEqual({ nodes: ["a", "b", "c"] });
  });

  it("refuses bad values before connecting, naming the flag", () => {
    expect(() => rolloutFlags(start("x", "--waves", "50%,10%"))).toThrow(/^--waves wave step 10% is smaller/);
    expect(() => rolloutFlags(start("x", "--max-parallel", "0"))).toThrow(/^--max-parallel must be/);
    expect(() => rolloutFlags(start("x", "--soak", "soon"))).toThrow(/^--soak must be a duration/);
    expect(() => rolloutFlags(start("x", "--max-failures", "lots"))).toThrow(/^--max-failures must be/);
    expect(() => rolloutFlags(start("x", "-l", "zone in (a"))).toThrow(/selector/);
    expect(() => rolloutFlags(start("x", "-l", "zone=a", "--node", "n1"))).toThrow(
      "give --node or --selector, not both",
    );
  });

  it("-l/--selector on op commands: parsed, resolved against node labels, nothing matching is an error", () => {
    expect(selectorOf(op("piper"))).toBeUndefined();
    expect(selectorOf(op("piper", "--selector", "gpu"))?.requirements).toEqual([
      { key: "gpu", op: "exists" },
    ]);
    expect(() => selectorOf(op("piper", "-l", " "))).toThrow("--selector is empty");
    const node = (id: string, labels: Record<string, string>) =>
      ({ id, last: { labels } }) as unknown as NodeRecord;
    const fleet = [node("n2", { gpu: "h100" }), node("n1", { gpu: "h100", zone: "eu" }), node("n3", {})];
    const sel = (s: string) => {
      const p = parseSelector(s);
      if (!p.ok) throw new Error(p.error);
      return p.selector;
    };
    expect(nodesMatching(fleet, sel("gpu=h100"))).toEqual(["n1", "n2"]);
    expect(nodesMatching(fleet, sel("!gpu"))).toEqual(["n3"]);
    expect(nodesMatching(fleet, sel("gpu in (h100),zone!=eu"))).toEqual(["n2"]);
    expect(() => nodesMatching(fleet, sel("gpu=a100"))).toThrow("no node matches the selector gpu=a100");
  });

  it("a progress line says state, wave and counts", () => {
    const r = {
      id: "ro-1",
      backend: "llama-cpp",
      state: "running",
      wave: 1,
      waves: [1, 3, 8],
      eligible: 8,
      counts: { waiting: 4, running: 1, done: 3, failed: 0, skipped: 0, reverted: 0 },
      strategy: DEFAULT_STRATEGY,
    } as unknown as Rollout;
    expect(rolloutLine(r)).toBe(
      "ro-1 llama-cpp running wave 2/3 · 3 done, 1 running, 0 failed, 4 waiting of 8",
    );
    expect(rolloutLine({ ...r, state: "paused", reason: "lunch" })).toMatch(
      /^ro-1 llama-cpp paused .* · lunch$/,
    );
  });

  it("completion knows the rollouts group and its flags", async () => {
    expect(await complete(["rollouts", ""])).toEqual([
      "abort",
      "dismiss",
      "get",
      "list",
      "pause",
      "plan",
      "promote",
      "resume",
      "start",
      "watch",
    ]);
    expect(await complete(["rollouts", "start", "x", "--no-a"])).toEqual(["--no-auto-promote"]);
    expect(await complete(["backends", "upgrade", "x", "--sel"])).toEqual(["--selector"]);
  });
});
