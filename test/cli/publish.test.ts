import { readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackplane, spawnBackplane } from "../harness/backplane.js";
import { NatsServer } from "../harness/nats-server.js";
import { makeBackendDir } from "../harness/oci-image.js";
import { freePort, removeDir, stopProcess, tempDir, waitFor, type Spawned } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";

const auth = { username: "tester", password: "s3cret" };

/** What an operator does for a private backend: publish it, list it in a gallery, install it. */
describe("backplane publish → install, against a registry with basic auth", () => {
  let nats: NatsServer;
  let registry: Registry;
  let dir: string;
  const procs: Spawned[] = [];

  beforeAll(async () => {
    [nats, registry] = await Promise.all([NatsServer.start(), Registry.start({ auth })]);
    dir = await tempDir("publish");
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await Promise.all([nats?.dispose(), registry?.dispose()]);
    if (dir) await removeDir(dir);
  });

  it("refuses a directory whose run.sh the agent would refuse, with the agent's reason", async () => {
    const r = await runBackplane(["publish", dir, registry.ref("backends/x", "1")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the backend has no run.sh at its root");
    const linked = await tempDir("publish-link");
    try {
      await symlink("/bin/sh", join(linked, "run.sh"));
      const l = await runBackplane(["publish", linked, registry.ref("backends/x", "1")]);
      expect(l.code).toBe(2);
      expect(l.stderr).toContain("run.sh is not a regular file");
    } finally {
      await removeDir(linked);
    }
  });

  it("names the host and the cause when it cannot push, and what is wrong with a reference", async () => {
    const src = await makeBackendDir({ runSh: "#!/bin/sh\n" });
    try {
      const port = await freePort();
      const down = await runBackplane(["publish", src, `127.0.0.1:${port}/backends/x:1`]);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`cannot connect to 127.0.0.1:${port}: connection refused`);
      const bad = await runBackplane(["publish", src, "not a ref!"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("not a ref! is not a registry/repository:tag reference");
    } finally {
      await removeDir(src);
    }
  });

  it("refuses to push without the credentials", async () => {
    const src = await makeBackendDir({ runSh: "#!/bin/sh\necho private\n" });
    try {
      const r = await runBackplane(["publish", src, registry.ref("backends/private", "1.0.0")]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/needs credentials|authentication refused/);
    } finally {
      await removeDir(src);
    }
  });

  it("publishes with credentials, and an agent with the same credentials installs it", async () => {
    const src = await makeBackendDir({
      runSh: "#!/bin/sh\necho private 1.0.0\n",
      files: { "lib/model.bin": "weights" },
    });
    const ref = registry.ref("backends/private", "1.0.0");
    try {
      const pub = await runBackplane(["publish", src, ref, "--version", "1.0.0"], {
        BACKPLANE_REGISTRY_USER: auth.username,
        BACKPLANE_REGISTRY_PASSWORD: auth.password,
      });
      expect(pub.code, pub.stderr).toBe(0);
      expect(pub.stdout.trim()).toMatch(new RegExp(`^${ref.replace(/[.]/g, "\\.")}@sha256:[a-f0-9]{64}$`));
    } finally {
      await removeDir(src);
    }

    const gallery = join(dir, "index.yaml");
    await writeFile(gallery, `- name: private-tts\n  uri: ${ref}\n  version: 1.0.0\n`);
    const dockerConfig = join(dir, "config.json");
    const b64 = Buffer.from(`${auth.username}:${auth.password}`).toString("base64");
    await writeFile(dockerConfig, JSON.stringify({ auths: { [registry.host]: { auth: b64 } } }));
    const backends = join(dir, "backends");
    procs.push(spawnBackplane(["controller", "--server", nats.url, "--gallery", gallery]));
    procs.push(
      spawnBackplane([
        "agent",
        ...["--server", nats.url, "--node-id", "n1", "--backends-dir", backends, "--capability", "default"],
        ...["--registry-auth", dockerConfig],
        ...["--probe", "none"],
      ]),
    );
    await waitFor(
      "n1 to report",
      async () => (await runBackplane(["nodes", "list", "--server", nats.url])).stdout.includes("healthy"),
      20_000,
      250,
    );
    const r = await runBackplane(
      ["backends", "install", "private-tts", "--node", "n1", "--wait", "--server", nats.url],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(backends, "private-tts", "run.sh"), "utf8")).toBe(
      "#!/bin/sh\necho private 1.0.0\n",
    );
    expect(await readFile(join(backends, "private-tts", "lib", "model.bin"), "utf8")).toBe("weights");
  }, 90_000);
});
