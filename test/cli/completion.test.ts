import { execFile } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { complete } from "../../src/cli/completion.js";
import { BIN, runBackplane } from "../harness/backplane.js";
import { removeDir, tempDir } from "../harness/proc.js";

describe("shell completion", () => {
  let shim = "";
  beforeAll(async () => {
    shim = await tempDir("completion");
    await writeFile(join(shim, "backplane"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(shim, "backplane"), 0o755);
  });
  afterAll(() => removeDir(shim));

  it("completes commands, subcommands and flags from the command table", async () => {
    expect(await complete([""])).toContain("backends");
    expect(await complete(["ba"])).toEqual(["backends"]);
    expect(await complete(["ops", ""])).toEqual(["cancel", "dismiss", "history", "list", "retry", "watch"]);
    expect(await complete(["backends", "install", "piper", "--w"])).toEqual(["--wait"]);
    expect(await complete(["agent", "--capab"])).toContain("--capability");
    // a value the shell should complete itself (a file, a URL): no candidates from us
    expect(await complete(["ops", "list", "--server", ""])).toEqual([]);
  });

  it("asks nothing of a cluster that cannot be reached, and says nothing", async () => {
    const r = await runBackplane(["__complete", "nodes", "drain", "--server", "nats://127.0.0.1:1", ""]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("");
  });

  it("the bash script drives it: COMPREPLY holds the candidates", async () => {
    const script = await runBackplane(["completion", "bash"]);
    expect(script.code).toBe(0);
    const { stdout } = await promisify(execFile)(
      "bash",
      [
        "-c",
        `${script.stdout}\nCOMP_WORDS=(backplane ops li); COMP_CWORD=2; _backplane; echo "\${COMPREPLY[@]}"`,
      ],
      { env: { ...process.env, PATH: `${shim}:${process.env.PATH}` } },
    );
    expect(stdout.trim()).toBe("list");
  });

  it("prints zsh and fish scripts, and refuses other shells", async () => {
    for (const shell of ["zsh", "fish"]) {
      const r = await runBackplane(["completion", shell]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("backplane __complete");
    }
    const bad = await runBackplane(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("bash, zsh, fish");
  });
});
