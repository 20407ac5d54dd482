import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackplane } from "../harness/backplane.js";
import { NatsServer } from "../harness/nats-server.js";
import { freePort } from "../harness/proc.js";

/** What waiting cannot fix, a one-shot command says at once, with the real reason. */
describe("CLI connection failures", () => {
  let plain: NatsServer;
  let guarded: NatsServer;
  beforeAll(async () => {
    plain = await NatsServer.start({ noJetStream: true });
    guarded = await NatsServer.start({ extraConfig: 'authorization { user: "ops", password: "right" }' });
  });
  afterAll(async () => {
    await plain.stop();
    await guarded.stop();
  });

  // A connect timeout far beyond the test's own: an answer at all shows it did not wait for it.
  const timed = (args: string[]) => runBackplane(["nodes", "list", "--connect-timeout", "10m", ...args]);

  it("refused credentials say so, without waiting for the connect timeout", async () => {
    const r = await timed(["--server", guarded.url, "--user", "ops", "--password", "wrong"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the server at ${guarded.url} refused the credentials`);
  });

  it("a server without JetStream says so", async () => {
    const r = await timed(["--server", plain.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/runs without JetStream.*-js/);
  });

  it("a missing --creds file is a local error, before any connection", async () => {
    const r = await timed(["--server", "nats://127.0.0.1:1", "--creds", "/no/such/file.creds"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot read the --creds file /no/such/file.creds: no such file");
  });

  it("a refused port is reported after a short grace, or after --connect-timeout when given", async () => {
    const port = await freePort();
    const quick = await runBackplane(["nodes", "list", "--server", `nats://127.0.0.1:${port}`]);
    expect(quick.code).toBe(1);
    expect(quick.stderr).toContain(`cannot connect to nats://127.0.0.1:${port}: connection refused`);
    const patient = await timed(["--server", `nats://127.0.0.1:${port}`, "--connect-timeout", "3s"]);
    expect(patient.stderr).toMatch(/within 3s: connection refused/);
  });
});
