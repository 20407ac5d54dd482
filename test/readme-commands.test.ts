import { execFile, spawn } from "node:child_process";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoCluster } from "../src/demo/cluster.js";
import { api } from "../src/protocol/index.js";
import { BIN } from "./harness/backplane.js";
import { removeDir, tempDir, waitFor } from "./harness/proc.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECTIONS = ["## Quick start", "## Command line", "## Deploying on a real cluster"];
/** What the README writes for an op id that this cluster does not have. */
const OP_PLACEHOLDER = "op-mi0abc-x1y2z3";

/** Every command line of the `sh` blocks of one README section, trailing comments removed. */
function commandsOf(readme: string, heading: string): string[] {
  const start = readme.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${heading}`);
  const end = readme.indexOf("\n## ", start + heading.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!
      .split("\n")
      .map((l) => l.replace(/\s+#.*$/, "").trim())
      .filter((l) => l && !l.startsWith("#")),
  );
}

type Result = { code: number | null; stdout: string; stderr: string };

/**
 * Every shell command the README shows in its Quick start, Command line and Deploying sections,
 * run the way a reader would (through bash, `backplane` on the PATH, BACKPLANE_SERVER pointing at a
 * demo cluster whose nodes are named like the README's), in the order the README gives them.
 */
describe("README commands", () => {
  let work = "";
  const cluster = new DemoCluster({
    nodes: 3,
    payloadBytes: 64 * 1024,
    rateLimit: 16 * 1024,
    log: () => {},
    nodeId: (i) => `gpu-0${i}`,
    // An op is held in its probe while `hold-<build>` exists in the work dir, until `open-<build>`
    // does: the op `ops cancel` cancels and the one Ctrl-C leaves running are still in flight
    // whatever the machine's speed. Every other build passes its probe at once.
    agentArgs: () => [
      "--probe",
      "exec",
      "--probe-command",
      `b=$(sed -n 's/^# \\([^ ]*\\) .*/\\1/p' run.sh); ` +
        `if test -e '${work}/hold-'"$b"; then until test -e '${work}/open-'"$b"; do sleep 0.05; done; fi`,
      "--probe-timeout",
      "10m",
    ],
  });
  let env: NodeJS.ProcessEnv = {};
  let opToCancel = "";
  const readme = readFile(join(ROOT, "README.md"), "utf8");

  const sh = (cmd: string, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Result> =>
    new Promise((resolve, reject) => {
      const child = spawn("bash", ["-c", cmd], { cwd: work, env: { ...env, ...extraEnv } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
    });
  const ok = async (cmd: string, extraEnv?: NodeJS.ProcessEnv): Promise<Result> => {
    const r = await sh(cmd, extraEnv);
    expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
    return r;
  };
  // -o: never reinstall node_modules from here (a test must not run npm ci under other tests).
  const make = (...args: string[]) =>
    promisify(execFile)("make", ["-o", "node_modules/.installed", ...args], { cwd: ROOT });

  /** How each command is checked; a README command without a check fails the first test. */
  const checks: Array<{ match: RegExp; check: (cmd: string) => Promise<void> }> = [
    {
      match: /^make demo$/,
      // The demo itself is run by test/demo and the tmux tests; here: make runs it, without rebuilding.
      check: async () => expect((await make("-n", "demo")).stdout).toMatch(/bin\/backplane\.js demo/),
    },
    {
      match: /^make test$/,
      check: async () => {
        const { stdout } = await make("-n", "test");
        for (const step of [/tsc -p tsconfig\.json/, /eslint/, /prettier --check/, /vitest run/])
          expect(stdout).toMatch(step);
      },
    },
    {
      match: /^backplane nodes list$/,
      check: async (cmd) => expect((await ok(cmd)).stdout).toMatch(/^gpu-01\b.*healthy/m),
    },
    {
      match: /^backplane backends install llama-cpp --node gpu-01,gpu-02 --wait$/,
      check: async (cmd) => expect((await ok(cmd)).stderr).toMatch(/gpu-02 .*llama-cpp.* succeeded/),
    },
    {
      match: /^backplane backends upgrade \S+ --all --wait --progress$/,
      check: async (cmd) => expect((await ok(cmd)).stderr).not.toMatch(/refused/),
    },
    {
      match: /^backplane backends check --json$/,
      check: async (cmd) => {
        api["upgrades.check"].res.parse(JSON.parse((await ok(cmd)).stdout));
      },
    },
    {
      match: /^backplane ops list --all$/,
      check: async (cmd) => expect((await ok(cmd)).stdout).toMatch(/gpu-01.*llama-cpp.*succeeded/),
    },
    {
      match: /^backplane ops watch --node gpu-01 \| tee rollout\.log$/,
      check: async (cmd) => {
        // Its own process group, so that Ctrl-C (SIGINT to the group) reaches both sides of the pipe.
        const watch = spawn("bash", ["-c", cmd], { cwd: work, env, detached: true, stdio: "ignore" });
        const exited = new Promise<number | string | null>((r) =>
          watch.on("close", (code, signal) => r(code ?? signal)),
        );
        const log = join(work, "rollout.log");
        let interrupted = false;
        const interrupt = () => {
          if (interrupted) return;
          interrupted = true;
          process.kill(-watch.pid!, "SIGINT");
        };
        try {
          await waitFor("ops watch to subscribe", () =>
            readFile(log, "utf8").then(
              () => true,
              () => false,
            ),
          );
          await ok("backplane backends reinstall piper --node gpu-01 --json");
          await waitFor(
            "the reinstall's lines in rollout.log",
            async () => /gpu-01 .*piper.* succeeded/.test(await readFile(log, "utf8")),
            60_000,
            100,
          );
          await ok("backplane backends install piper --node gpu-02 --wait");
          interrupt();
          // Ctrl-C ends both sides of the pipe: the watcher cleanly, tee by the signal (130); bash
          // itself may die of the SIGINT too, when it arrives while bash waits for the pipeline.
          expect([0, 130, "SIGINT"]).toContain(await exited);
          expect(await readFile(log, "utf8")).not.toMatch(/gpu-02/);
        } finally {
          interrupt(); // a failed step must not leave the detached watcher running
        }
      },
    },
    {
      match: new RegExp(`^backplane ops cancel ${OP_PLACEHOLDER}$`),
      check: async (cmd) => {
        await ok(cmd.replace(OP_PLACEHOLDER, opToCancel));
        const op = await sh(`backplane ops watch ${opToCancel}`);
        expect(op.code).toBe(1); // a cancelled op is not a success
        expect(op.stdout).toMatch(/cancel/);
      },
    },
    {
      match: /^backplane settings set --auto-upgrade on$/,
      check: async (cmd) => {
        expect((await ok(cmd)).stdout).toMatch(/auto-upgrade on/);
        await ok("backplane settings set --auto-upgrade off");
      },
    },
    {
      match: /^backplane nodes hold gpu-03 --reason "driver update"$/,
      check: async (cmd) => {
        expect((await ok(cmd)).stdout).toBe("gpu-03: held for every backend: driver update\n");
        expect((await ok("backplane nodes list")).stdout).toMatch(/^gpu-03\b.*all: driver update$/m);
        // Released again: the commands after this one act on every node.
        expect((await ok("backplane nodes unhold gpu-03")).stdout).toBe("gpu-03: not held\n");
      },
    },
    {
      match: /^backplane backends pin llama-cpp 1\.0\.0 --selector gpu=h100$/,
      check: async (cmd) => {
        expect((await ok(cmd)).stdout).toBe("llama-cpp: pinned to 1.0.0 on gpu=h100\n");
        const list = await ok("backplane backends list --json");
        expect(JSON.parse(list.stdout)).toMatchObject({ pins: [{ backend: "llama-cpp", version: "1.0.0" }] });
        await ok("backplane backends unpin llama-cpp");
      },
    },
    {
      match: /^backplane settings set --window "Sat,Sun 02:00-05:00 UTC" --waves 1,25%,100%$/,
      check: async (cmd) => {
        const out = (await ok(cmd)).stdout;
        expect(out).toMatch(/window Sat,Sun 02:00-05:00 UTC/);
        expect(out).toMatch(/rollout defaults: waves 1,25%,100%/);
        const { settings } = JSON.parse((await ok("backplane settings get --json")).stdout) as {
          settings: { window?: string; rolloutDefaults?: { waves: string[] } };
        };
        expect(settings).toMatchObject({
          window: "Sat,Sun 02:00-05:00 UTC",
          rolloutDefaults: { waves: ["1", "25%", "100%"] },
        });
        await ok("backplane settings set --window none --waves 1,10%,50%,100%");
      },
    },
    {
      match: /^backplane gallery resolve llama-cpp --capability nvidia-cuda-12$/,
      check: async (cmd) => expect((await ok(cmd)).stdout).toMatch(/nvidia-cuda-12\s+cuda12-llama-cpp/),
    },
    {
      match: /^backplane publish \.\/my-backend registry\.internal:5000\/\S+$/,
      check: async (cmd) => {
        await mkdir(join(work, "my-backend"), { recursive: true });
        await writeFile(join(work, "my-backend", "run.sh"), "#!/bin/sh\nexec sleep 1\n");
        await chmod(join(work, "my-backend", "run.sh"), 0o755);
        const r = await ok(cmd.replace("registry.internal:5000", cluster.registryHost));
        expect(r.stdout).toMatch(/my-backend:1\.0\.0@sha256:[0-9a-f]{64}/);
      },
    },
    {
      match: /^make build && npm pack$/,
      check: async () => {
        await make("build");
        await promisify(execFile)("npm", ["pack", "--pack-destination", work], { cwd: ROOT });
        const tgz = (await readdir(work)).find((f) => /^backplane-.*\.tgz$/.test(f));
        expect(tgz).toBeDefined();
        const { stdout } = await promisify(execFile)("tar", ["tzf", join(work, tgz!)]);
        expect(stdout).toMatch(/^package\/bin\/backplane\.js$/m);
        expect(stdout).toMatch(/^package\/dist\/cli\/main\.js$/m);
        expect(stdout).not.toMatch(/^package\/(src|test|node_modules)\//m);
      },
    },
    {
      match: /^sudo npm install -g \.\/backplane-\*\.tgz$/,
      check: async (cmd) => {
        // Not as root here: the same install into a prefix of our own, from npm's cache when it can.
        const prefix = join(work, "prefix");
        await ok(
          `${cmd.replace(/^sudo /, "")} --prefix ${prefix} --prefer-offline --no-audit --no-fund --loglevel=error`,
        );
        env = { ...env, PATH: `${join(prefix, "bin")}:${process.env.PATH}` };
      },
    },
    {
      match: /^backplane --version$/,
      check: async (cmd) => {
        const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
          version: string;
        };
        const r = await ok(`command -v backplane && ${cmd}`);
        expect(r.stdout).toContain(join(work, "prefix", "bin", "backplane")); // the installed one
        expect(r.stdout).toMatch(new RegExp(`^${version.replace(/\./g, "\\.")}$`, "m"));
      },
    },
  ];

  beforeAll(async () => {
    work = await tempDir("readme");
    const shim = join(work, "shim");
    await mkdir(shim);
    await writeFile(join(shim, "backplane"), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(shim, "backplane"), 0o755);
    await cluster.start();
    env = { ...process.env, PATH: `${shim}:${process.env.PATH}`, BACKPLANE_SERVER: cluster.serverUrl };
  }, 90_000);
  afterAll(async () => {
    await cluster.stop();
    await removeDir(work);
  });

  it("every command in Quick start, Command line and Deploying has a check", async () => {
    const text = await readme;
    const commands = SECTIONS.flatMap((s) => commandsOf(text, s));
    expect(commands.length).toBeGreaterThan(10);
    const unchecked = commands.filter((c) => checks.filter((k) => k.match.test(c)).length !== 1);
    expect(unchecked, "README commands with no check (or more than one)").toEqual([]);
  });

  it("each command does what the README says, in the README's order", async () => {
    const text = await readme;
    const commands = SECTIONS.flatMap((s) => commandsOf(text, s));
    for (const cmd of commands) {
      if (cmd.startsWith(`backplane ops cancel`)) {
        // The op to cancel: held in its probe (see agentArgs) until cancelled.
        await writeFile(join(work, "hold-silero-vad"), "");
        const r = await ok("backplane backends install silero-vad --node gpu-03 --json");
        opToCancel = api["ops.install"].res.parse(JSON.parse(r.stdout)).admitted[0]!.opId;
        // In flight: cancelled while it runs, as the README's reader would cancel one.
        await waitFor(
          "the op to cancel to reach its probe",
          async () => (await cluster.client!.call("ops.get", { opId: opToCancel })).op.phase === "probing",
          60_000,
          100,
        );
      }
      await checks.find((k) => k.match.test(cmd))!.check(cmd);
    }
  }, 300_000);

  it("Ctrl-C during --wait says which ops keep running and how to cancel them", async () => {
    // gpu-01 runs the CUDA build; held in its probe (see agentArgs) until after the Ctrl-C.
    await writeFile(join(work, "hold-cuda12-llama-cpp"), "");
    const wait = spawn("bash", ["-c", "exec backplane backends reinstall llama-cpp --node gpu-01 --wait"], {
      cwd: work,
      env,
    });
    let stderr = "";
    wait.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => wait.on("close", r));
    const opId = await waitFor(
      "the op to start",
      () => /running.*\n/.test(stderr) && /(op-\S+)/.exec(stderr)?.[1],
    );
    wait.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toContain(`backplane ops cancel ${opId}`);
    expect(stderr).toMatch(/1 op\(s\) keep running/);
    await writeFile(join(work, "open-cuda12-llama-cpp"), "");
    // and ops watch --json follows it to the end as NDJSON, one object per line
    const r = await sh(`backplane ops watch ${opId} --json`);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; op: { state: string } });
    expect(lines.at(-1)).toMatchObject({ type: "op", op: { state: "succeeded" } });
  }, 60_000);
});
