import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/log.js";
import { removeDir, tempDir } from "../harness/proc.js";

describe("createLogger", () => {
  let dir: string;
  let fd: number;
  let file: string;
  beforeEach(async () => {
    dir = await tempDir("log");
    file = join(dir, "log");
    fd = openSync(file, "w");
  });
  afterEach(async () => {
    closeSync(fd);
    await removeDir(dir);
  });
  const lines = () =>
    readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it("writes only what its level lets through, with base and child fields on every line", () => {
    const log = createLogger({ role: "agent" }, { level: "warn", fd });
    log.info("hidden");
    log.warn("shown", { n: 1 });
    log.child({ node: "gpu-01" }).error("also shown");
    expect(lines().map(({ time: _t, ...rest }) => rest)).toEqual([
      { level: "warn", role: "agent", n: 1, msg: "shown" },
      { level: "error", role: "agent", node: "gpu-01", msg: "also shown" },
    ]);
  });
});
