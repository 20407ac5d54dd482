import { describe, expect, it } from "vitest";
import { commands } from "../../src/cli/commands.js";

/** `backplane --help` is where an operator first looks for what a group can do. */
describe("help text", () => {
  it("each group's one-line summary names every subcommand it has", async () => {
    const spoken: Record<string, string> = { rollback: "roll back" };
    const missing: string[] = [];
    for (const [group, entry] of Object.entries(commands)) {
      if (group === "dash") continue; // no subcommands, and it loads the whole dashboard
      const mod = await entry.load();
      for (const sub of Object.keys(mod.subcommands ?? {})) {
        const word = spoken[sub] ?? sub;
        if (!new RegExp(`\\b${word}\\b`).test(entry.summary)) missing.push(`${group} ${sub}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("rollouts plan and start say their strategy defaults come from 'settings set' when set", async () => {
    const { subcommands } = await import("../../src/cli/rollouts.js");
    for (const sub of ["plan", "start"]) {
      expect(subcommands[sub]!.usage, sub).toMatch(/defaults? from 'settings set'/);
    }
  });
});
