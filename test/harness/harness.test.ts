import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImageRef } from "../../src/oci/index.js";
import { NatsServer } from "./nats-server.js";
import { pushBackendImage } from "./oci-image.js";
import { Registry } from "./registry.js";

describe("harness: docker-registry", () => {
  let anon: Registry;
  let authed: Registry;
  beforeAll(async () => {
    [anon, authed] = await Promise.all([
      Registry.start(),
      Registry.start({ auth: { username: "tester", password: "s3cret" } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([anon?.dispose(), authed?.dispose()]);
  });

  for (const which of ["anonymous", "basic auth"] as const) {
    it(`pushes an image and fetches it back by digest (${which})`, async () => {
      const reg = which === "anonymous" ? anon : authed;
      const { ref, digest } = await pushBackendImage(reg, "backends/demo", "1.0.0", {
        files: { "lib/payload.bin": Buffer.alloc(64 * 1024, 7) },
      });
      const client = reg.client();
      const byDigest = { ...parseImageRef(ref), tag: undefined, digest };
      const manifest = await client.getManifest(byDigest);
      expect(manifest.digest).toBe(digest);
      const head = await client.headManifest(parseImageRef(ref));
      expect(head.digest).toBe(digest);
      const layer = (
        JSON.parse(manifest.body.toString()) as { layers: Array<{ digest: string; size: number }> }
      ).layers[0]!;
      const blob = Buffer.from(await (await client.getBlob(byDigest, layer.digest)).arrayBuffer());
      expect(blob.length).toBe(layer.size);
      expect(`sha256:${createHash("sha256").update(blob).digest("hex")}`).toBe(layer.digest);
    });
  }

  it("refuses anonymous access to the authenticated registry with a clear error", async () => {
    const { ref } = await pushBackendImage(authed, "backends/private", "1", {});
    const { RegistryClient } = await import("../../src/oci/index.js");
    await expect(new RegistryClient().headManifest(parseImageRef(ref))).rejects.toThrow(/needs credentials/);
  });
});

describe("harness: nats-server", () => {
  it("starts on a port it picked and restarts on the same port and store", async () => {
    const s = await NatsServer.start();
    try {
      const port = s.port;
      expect(port).toBeGreaterThan(0);
      await s.restart();
      expect(s.port).toBe(port);
    } finally {
      await s.dispose();
    }
  });
});
