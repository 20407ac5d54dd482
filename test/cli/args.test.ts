import { describe, expect, it } from "vitest";
import { envName, humanMs, nearest, parse, parseDuration, type FlagSpec } from "../../src/cli/args.js";
import { commands } from "../../src/cli/commands.js";
import { commonFlags } from "../../src/cli/session.js";
import { runBackplane } from "../harness/backplane.js";

describe("flag parsing", () => {
  it("suggests the nearest flag for a typo", () => {
    const flags = { node: { type: "string" }, all: { type: "boolean" }, wait: { type: "boolean" } } as const;
    expect(() => parse(["--nodee", "x"], flags)).toThrow("unknown flag --nodee (did you mean --node?)");
    expect(() => parse(["--wiat"], flags)).toThrow("did you mean --wait?");
    expect(() => parse(["--frobnicate"], flags)).toThrow(/^unknown flag --frobnicate$/);
    expect(() => parse(["--node"], flags)).toThrow("--node needs a value");
    expect(nearest("lst", ["list", "watch", "cancel"])).toBe("list");
  });

  it("reads a bare number as seconds and states minimums in human units", () => {
    expect(parseDuration("10", "timeout")).toBe(10_000);
    expect(parseDuration("250ms", "timeout")).toBe(250);
    expect(() => parseDuration("30", "check-interval", 60_000)).toThrow(
      "--check-interval must be at least 1m",
    );
    expect([humanMs(86_400_000), humanMs(5_400_000), humanMs(90_000), humanMs(1500)]).toEqual([
      "1d",
      "90m",
      "90s",
      "1500ms",
    ]);
  });

  it("the binary says 'did you mean' for flags and commands, exit 2, before connecting", async () => {
    const flag = await runBackplane(["backends", "install", "piper", "--nodee", "gpu-01"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown flag --nodee (did you mean --node?)");
    const sub = await runBackplane(["ops", "lst"]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("(did you mean 'ops list'?)");
    // A bad value is refused at once, with no server to reach.
    const interval = await runBackplane([
      "settings",
      "set",
      "--check-interval",
      "30s",
      "--server",
      "nats://127.0.0.1:1",
    ]);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toContain("--check-interval must be at least 1m");
  });
});

describe("BACKPLANE_* environment fallbacks", () => {
  it("no subcommand's own flag reads the environment: BACKPLANE_FORCE=1 forces nothing", async () => {
    let checked = 0;
    for (const [group, entry] of Object.entries(commands)) {
      if (group === "dash") continue; // no subcommands, and it loads the whole dashboard
      const mod = await entry.load();
      for (const [sub, s] of Object.entries(mod.subcommands ?? {})) {
        const flags: Record<string, FlagSpec> = { ...commonFlags, ...s.flags };
        for (const flag of Object.keys(s.flags ?? {})) {
          const p = parse([], flags, { [envName(flag)]: "1" });
          expect(p.values[flag], `${group} ${sub} --${flag} from ${envName(flag)}`).toBeUndefined();
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(30);

    const { subcommands } = await import("../../src/cli/backends.js");
    const env = { BACKPLANE_FORCE: "1", BACKPLANE_ALL: "1", BACKPLANE_SERVER: "nats://h:4222" };
    const p = parse(["llama-cpp"], { ...commonFlags, ...subcommands.upgrade!.flags }, env);
    expect(p.values).toMatchObject({ server: ["nats://h:4222"] });
    expect([p.values.force, p.values.all, p.values.help, p.values.json]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("every variable a --help names in brackets still reaches its flag", async () => {
    const [agent, controller, dash, gallery, publish] = await Promise.all([
      import("../../src/cli/agent.js"),
      import("../../src/cli/controller.js"),
      import("../../src/cli/dash.js"),
      import("../../src/cli/gallery.js"),
      import("../../src/cli/publish.js"),
    ]);
    const cases: Array<[string[], Record<string, FlagSpec>]> = [
      [["agent"], agent.flags],
      [["controller"], controller.flags],
      [["dash"], dash.FLAGS],
      [["gallery"], gallery.flags],
      [["publish"], publish.flags],
      [["nodes", "list"], commonFlags],
    ];
    // publish reads registry credentials from their own variables (run() maps them to its flags).
    const renamed: Record<string, string> = { REGISTRY_USER: "user", REGISTRY_PASSWORD: "password" };
    let checked = 0;
    for (const [argv, flags] of cases) {
      const help = await runBackplane([...argv, "--help"]);
      expect(help.code, help.stderr).toBe(0);
      const named = [...help.stdout.matchAll(/\[(BACKPLANE_[A-Z_]+(?:,\s*BACKPLANE_[A-Z_]+)*)\]/g)].flatMap(
        (m) => m[1]!.split(/,\s*/),
      );
      expect(named.length, argv.join(" ")).toBeGreaterThan(0);
      for (const name of named) {
        const bare = name.slice("BACKPLANE_".length);
        const flag = renamed[bare] ?? bare.toLowerCase().replace(/_/g, "-");
        const p = parse([], flags, { [envName(flag)]: "1" });
        expect(p.values[flag], `${argv.join(" ")}: ${name}`).toBeDefined();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });

  it("the binary connects where BACKPLANE_SERVER says, within BACKPLANE_CONNECT_TIMEOUT", async () => {
    const r = await runBackplane(["nodes", "list"], {
      BACKPLANE_SERVER: "nats://127.0.0.1:1",
      BACKPLANE_CONNECT_TIMEOUT: "300ms",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach NATS at nats://127.0.0.1:1 within 300ms");
  });
});
