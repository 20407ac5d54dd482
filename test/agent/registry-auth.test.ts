import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadRegistryAuth } from "../../src/agent/registry-auth.js";
import { removeDir, tempDir } from "../harness/proc.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeDir(d);
});

describe("Docker config credentials", () => {
  it("files Docker Hub's names under registry-1.docker.io and every other host under itself", async () => {
    const dir = await tempDir("docker-config");
    dirs.push(dir);
    const file = join(dir, "config.json");
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    await writeFile(
      file,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hub:secret") },
          "r.io": { username: "short", password: "pw" },
          "registry.internal:5000": { auth: b64("me:p:w") },
        },
      }),
    );
    const auth = await loadRegistryAuth(file);
    expect(auth.get("registry-1.docker.io")).toEqual({ username: "hub", password: "secret" });
    // A short host is not mistaken for a part of docker.io's names.
    expect(auth.get("r.io")).toEqual({ username: "short", password: "pw" });
    expect(auth.get("registry.internal:5000")).toEqual({ username: "me", password: "p:w" });
  });
});
