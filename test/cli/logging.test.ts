import { afterEach, describe, expect, it } from "vitest";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { stopProcess, waitFor, type Spawned } from "../harness/proc.js";

/** `--log-format` and `--log-level` of the long-running roles, read off the real binary's stderr. */
describe("daemon logging", () => {
  let proc: Spawned | undefined;
  afterEach(async () => {
    if (proc) await stopProcess(proc);
    proc = undefined;
  });

  // Port 1 refuses at once, so the controller logs its first retry within a second.
  const controller = (...flags: string[]) =>
    spawnBackplane(["controller", "--gallery", "x.yaml", "--server", "nats://127.0.0.1:1", ...flags], {
      BACKPLANE_LOG_LEVEL: "",
    });

  it("json: one JSON object per line with time, level, role, msg and the event's fields", async () => {
    proc = controller("--log-format", "json");
    const line = await waitFor("a log line", () =>
      proc!
        .output()
        .split("\n")
        .find((l) => l.startsWith("{")),
    );
    const event = JSON.parse(line) as Record<string, unknown>;
    expect(event).toMatchObject({ level: "warn", role: "controller", msg: "cannot reach NATS, retrying" });
    expect(new Date(event.time as string).getTime()).not.toBeNaN();
    expect(event.reason).toMatch(/connection refused/);
  });

  it("text: one readable line per event, fields after the message", async () => {
    proc = controller("--log-format", "text");
    const line = await waitFor("a log line", () =>
      proc!
        .output()
        .split("\n")
        .find((l) => /WARN/.test(l)),
    );
    expect(line).toMatch(
      /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] WARN: cannot reach NATS, retrying \{.*"role":"controller"/,
    );
  });

  it("an unknown level or format is a usage error that lists the choices", async () => {
    const a = await runBackplane(["agent", "--log-format", "yaml"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--log-format must be one of json, text, got yaml/);
    const c = await runBackplane(["controller", "--gallery", "x.yaml", "--log-level", "loud"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--log-level must be one of debug, info, warn, error, got loud/);
  });
});
