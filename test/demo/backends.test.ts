import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeBackend } from "../../src/agent/probe.js";
import { writeBackendDir } from "../../src/demo/catalog.js";
import { silentLogger } from "../../src/lib/log.js";
import { removeDir, tempDir } from "../harness/proc.js";

// The demo's backends run dist/demo/backend-server.js (build dist/ first, as for the e2e tests).
describe("the demo's synthetic backends speak LocalAI's gRPC Health", () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir("demo-backends");
  });
  afterAll(async () => {
    await removeDir(root);
  });
  const never = new AbortController().signal;

  it("a normal build answers OK, so the agent's probe passes", async () => {
    const dir = await writeBackendDir(root, { name: "piper", tag: "latest-piper", version: "1.0.0" }, 16);
    const out = await probeBackend(dir, { mode: "grpc", timeoutMs: 20_000 }, never, silentLogger);
    expect(out).toMatchObject({ mode: "grpc", ran: true });
  });

  it("the broken build accepts the call and never answers, so the probe fails and says so", async () => {
    const b = { name: "piper", tag: "latest-piper", version: "1.1.0", neverAnswers: true };
    const dir = await writeBackendDir(root, b, 16);
    await expect(
      probeBackend(dir, { mode: "grpc", timeoutMs: 2_000, killGraceMs: 1_000 }, never, silentLogger),
    ).rejects.toThrow(
      /^health probe failed: no answer to Health on 127\.0\.0\.1:\d+ within 2 s \(it accepted the connection\)\nlast 1 lines of stderr:\npiper 1\.1\.0: listening on .* \(broken build: Health never answers\)$/,
    );
  });
});
