import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestRound } from "../../src/controller/digest-resolver.js";
import {
  buildImage,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseImageRef,
  pushImage,
  RegistryClient,
} from "../../src/oci/index.js";
import { RegistryProxy } from "../agent/servers.js";
import { makeBackendDir } from "../harness/oci-image.js";
import { removeDir, waitFor } from "../harness/proc.js";
import { Registry } from "../harness/registry.js";

const HUGE = 512 * 1024 * 1024;

/** Manifests and indexes are capped at 4 MiB while they are read, in every role (issue 11). */
describe("manifest and index size cap", () => {
  let registry: Registry;
  let proxy: RegistryProxy;
  let manifestSize: number;
  const client = new RegistryClient();
  const viaProxy = (tag: string) => parseImageRef(`${proxy.host}/backends/capped:${tag}`);

  beforeAll(async () => {
    registry = await Registry.start();
    proxy = await RegistryProxy.start(registry.host);
    const dir = await makeBackendDir({});
    const img = await buildImage([dir]);
    await pushImage(registry.client(), parseImageRef(registry.ref("backends/capped", "1")), img);
    manifestSize = img.manifest.length;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: img.manifestDigest,
            size: img.manifest.length,
            platform: { os: "linux", architecture: "amd64" },
          },
        ],
      }),
    );
    await registry
      .client()
      .pushManifest(
        parseImageRef(registry.ref("backends/capped", "multi")),
        "multi",
        index,
        MediaType.ociIndex,
      );
    await img.dispose();
    await removeDir(dir);
  });

  afterAll(async () => {
    await proxy?.dispose();
    await registry?.dispose();
  });

  /** The proxy's bytes for the padded manifests sent since `before`, once every response has ended. */
  function sentSince(before: { bytes: number; sent: number }): Promise<number> {
    return waitFor("the padded responses to end", () => proxy.manifestBytesSentSince(before));
  }

  it("reads a manifest of exactly 4 MiB and refuses one byte more", async () => {
    proxy.faults = { padManifests: MAX_MANIFEST_BYTES - manifestSize };
    const m = await client.getManifest(viaProxy("1"));
    expect(m.size).toBe(MAX_MANIFEST_BYTES);
    proxy.faults = { padManifests: MAX_MANIFEST_BYTES - manifestSize + 1 };
    await expect(client.getManifest(viaProxy("1"))).rejects.toThrow(
      /manifest backends\/capped:1 is larger than 4 MiB: refusing it/,
    );
  });

  it("stops reading a huge manifest at the cap instead of holding it all", async () => {
    const before = proxy.manifestMark();
    proxy.faults = { padManifests: HUGE };
    await expect(client.getManifest(viaProxy("1"))).rejects.toThrow(/larger than 4 MiB/);
    expect(await sentSince(before)).toBeLessThan(64 * 1024 * 1024);
  });

  it("the controller's digest check refuses a huge index the same way", async () => {
    const before = proxy.manifestMark();
    proxy.faults = { padManifests: HUGE };
    const round = new DigestRound(client, new Map());
    const got = await round.resolve(`${proxy.host}/backends/capped:multi`);
    expect(got).toMatchObject({ error: expect.stringMatching(/@sha256:[0-9a-f]{64} is larger than 4 MiB/) });
    expect(await sentSince(before)).toBeLessThan(64 * 1024 * 1024);
  });
});
