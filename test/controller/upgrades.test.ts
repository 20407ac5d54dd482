import { describe, expect, it } from "vitest";
import type { ClusterClient } from "../../src/client/index.js";
import { MediaType, buildImage, parseImageRef, pushImage } from "../../src/oci/index.js";
import type { InstalledBackend, OpRecord } from "../../src/protocol/index.js";
import { makeBackendDir, pushBackendImage } from "../harness/oci-image.js";
import { removeDir, waitFor } from "../harness/proc.js";
import { installed } from "./facts.js";
import {
  connect,
  controllerSuite,
  startReplica,
  uniquePrefix,
  waitLeader,
  writeGallery,
  type Replica,
} from "./cluster.js";
import { FakeNode, type Behaviour } from "./fake-node.js";

const suite = controllerSuite("upgrades", { registry: true });

async function setup(galleryYaml: string) {
  const prefix = uniquePrefix();
  const galleryPath = await writeGallery(suite.dir, galleryYaml, `${prefix}.yaml`);
  const client = await connect(suite.nats.url, prefix);
  suite.defer(() => client.close());
  const r: Replica = await startReplica(suite.nats.url, prefix, { galleryPath });
  suite.defer(() => r.stop());
  await waitLeader([r]);
  const digests = new Map<string, string>();
  const node = async (id: string, backends: InstalledBackend[], behave?: (op: OpRecord) => Behaviour) => {
    const n = new FakeNode(client, {
      nodeId: id,
      backends,
      behave,
      digestOf: (op) => digests.get(op.target?.uri ?? ""),
    });
    await n.start();
    suite.defer(() => n.stop());
    await waitFor(`${id} registered`, () => client.get("nodes", id));
    return n;
  };
  return { client, r, node, digests };
}

/** The per-node rows of the last check: node id → "backend:version" per row, upgradable or drifted. */
const rowsByNode = async (client: ClusterClient, which: "upgradable" | "drift" = "upgradable") =>
  Object.fromEntries(
    (await client.list("upgrade_nodes"))
      .map(
        (e) =>
          [
            e.key,
            e.value.rows.filter((r) => r[which]).map((r) => `${r.backend}:${r.version ?? ""}`),
          ] as const,
      )
      .filter(([, rows]) => rows.length > 0),
  );

describe("seed 001: upgrade detection", () => {
  it("by semver when versions exist: older is flagged, a gallery downgrade is not, no HEAD needed", async () => {
    const { client, node } = await setup(`
- name: ver
  uri: ${suite.registry.ref("bp/ver", "latest")}
  version: "2.0.0"
`);
    await node("old1", [installed("ver", { version: "1.9.0" })]);
    await node("old2", [installed("ver", { version: "1.9.0" })]);
    await node("newer", [installed("ver", { version: "3.0.0" })]);
    const r = await client.call("upgrades.check", {});
    expect(r.headRequests).toBe(0);
    expect(r.upgrades).toHaveLength(1);
    expect(r.upgrades[0]).toMatchObject({ backend: "ver", via: "version", availableVersion: "2.0.0" });
    expect(r.upgrades[0]).toMatchObject({ installed: 3, upgradable: 2, drifted: 1 });
    expect(await rowsByNode(client)).toEqual({ old1: ["ver:1.9.0"], old2: ["ver:1.9.0"] });
    // Per-node drift against the majority (1.9.0).
    expect(r.upgrades[0]!.installedVersion).toBe("1.9.0");
    expect(await rowsByNode(client, "drift")).toEqual({ newer: ["ver:3.0.0"] });
    expect((await client.call("upgrades.list", {})).upgrades.map((u) => u.backend)).toEqual(["ver"]);
  });

  it("falls back to the OCI digest when versions are absent: a moved tag is an upgrade, one HEAD per URI", async () => {
    const v1 = await pushBackendImage(suite.registry, "bp/dig", "latest", { runSh: "#!/bin/sh\necho v1\n" });
    const other = await pushBackendImage(suite.registry, "bp/other", "latest", {
      runSh: "#!/bin/sh\necho o\n",
    });
    const { client, node } = await setup(`
- name: dig
  uri: ${v1.ref}
- name: other
  uri: ${other.ref}
`);
    for (const id of ["a", "b", "c"]) {
      await node(id, [
        installed("dig", { digest: v1.digest, uri: v1.ref }),
        installed("other", { digest: other.digest }),
      ]);
    }
    const before = await client.call("upgrades.check", {});
    expect(before).toMatchObject({ upgrades: [], headRequests: 2 });

    const v2 = await pushBackendImage(suite.registry, "bp/dig", "latest", { runSh: "#!/bin/sh\necho v2\n" });
    expect(v2.digest).not.toBe(v1.digest);
    const after = await client.call("upgrades.check", {});
    expect(after.headRequests).toBe(2);
    expect(after.upgrades).toHaveLength(1);
    expect(after.upgrades[0]).toMatchObject({
      backend: "dig",
      via: "digest",
      installedDigest: v1.digest,
      availableDigest: v2.digest,
      drifted: 0,
      upgradable: 3,
    });
    expect(Object.keys(await rowsByNode(client))).toEqual(["a", "b", "c"]);
    const checked = (await client.call("ops.history", {})).events.find((e) => e.kind === "upgrades.checked");
    expect(checked?.message).toBe("1 backends with upgrades or drift; 2 HEAD requests for 2 images");
  });

  it("compares the node's platform manifest when the tag is a multi-arch index", async () => {
    const repo = "bp/multi";
    const reg = suite.registry.client();
    const push = async (arch: string, text: string) => {
      const d = await makeBackendDir({ runSh: `#!/bin/sh\necho ${text}\n` });
      const img = await buildImage([d], { architecture: arch });
      try {
        const digest = await pushImage(reg, parseImageRef(suite.registry.ref(repo, `${arch}-${text}`)), img);
        return { digest, size: img.manifest.length };
      } finally {
        await img.dispose();
        await removeDir(d);
      }
    };
    const pushIndex = async (
      amd: { digest: string; size: number },
      arm: { digest: string; size: number },
    ) => {
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [
            { mediaType: MediaType.ociManifest, ...amd, platform: { os: "linux", architecture: "amd64" } },
            { mediaType: MediaType.ociManifest, ...arm, platform: { os: "linux", architecture: "arm64" } },
          ],
        }),
      );
      return reg.pushManifest(
        parseImageRef(suite.registry.ref(repo, "latest")),
        "latest",
        body,
        MediaType.ociIndex,
      );
    };
    const amd = await push("amd64", "one");
    const arm1 = await push("arm64", "one");
    const index1 = await pushIndex(amd, arm1);
    const { client, node } = await setup(`
- name: multi
  uri: ${suite.registry.ref(repo, "latest")}
`);
    await node("x86", [installed("multi", { digest: amd.digest })]);
    await node("jetson", [installed("multi", { digest: arm1.digest })]);
    await node("indexed", [installed("multi", { digest: index1 })]);
    expect((await client.call("upgrades.check", {})).upgrades).toEqual([]);

    // Only the arm64 build is rebuilt: the index digest moves, the amd64 manifest does not.
    const arm2 = await push("arm64", "two");
    const index2 = await pushIndex(amd, arm2);
    expect(index2).not.toBe(index1);
    const r = await client.call("upgrades.check", {});
    expect(r.headRequests).toBe(1);
    expect(r.upgrades).toHaveLength(1);
    expect(r.upgrades[0]!.availableDigest).toBe(index2);
    expect(r.upgrades[0]).toMatchObject({ installed: 3, upgradable: 2 });
    expect(Object.keys(await rowsByNode(client))).toEqual(["indexed", "jetson"]);
  });
});

describe("seed 000: CheckUpgradesAgainst (distributed)", () => {
  const GALLERY = `
- name: my-backend
  alias: my-alias
  uri: 127.0.0.1:5999/b:latest
  version: "2.0.0"
- name: my-backend-development
  alias: my-alias
  uri: 127.0.0.1:5999/b:master
  version: "2.0.0"
`;
  const dev = installed("my-backend-development", { version: "1.0.0", alias: "my-alias" });
  const stable = installed("my-backend", { version: "1.0.0", alias: "my-alias" });
  const aliasRow = installed("my-alias", {
    name: "my-backend-development",
    version: "1.0.0",
    alias: "my-alias",
  });

  it("dev-only installed: only the dev variant surfaces", async () => {
    const { client, node } = await setup(GALLERY);
    await node("n1", [dev]);
    const r = await client.call("upgrades.check", {});
    expect(r.upgrades.map((u) => u.backend)).toEqual(["my-backend-development"]);
  });

  it("both variants installed: dev still wins", async () => {
    const { client, node } = await setup(GALLERY);
    await node("n1", [stable, dev]);
    const r = await client.call("upgrades.check", {});
    expect(r.upgrades.map((u) => [u.backend, u.installed])).toEqual([["my-backend-development", 1]]);
    expect(await rowsByNode(client)).toEqual({ n1: ["my-backend-development:1.0.0"] });
  });

  it("a synthetic alias row is ignored", async () => {
    const { client, node } = await setup(GALLERY);
    await node("n1", [dev, aliasRow]);
    await node("n2", [aliasRow]);
    const r = await client.call("upgrades.check", {});
    expect(r.upgrades.map((u) => [u.backend, u.installed])).toEqual([["my-backend-development", 1]]);
    expect(await rowsByNode(client)).toEqual({ n1: ["my-backend-development:1.0.0"] });
  });

  it("a manual upgrade of the stable variant is still allowed", async () => {
    const { client, node } = await setup(GALLERY);
    const n = await node("n1", [stable, dev]);
    const r = await client.call("ops.upgrade", { backend: "my-backend", nodes: ["n1"], actor: "admin" });
    expect(r.refused).toEqual([]);
    const opId = r.admitted[0]!.opId;
    await waitFor(
      "stable upgraded",
      async () => (await client.call("ops.get", { opId })).op.state === "succeeded",
    );
    expect(n.backends.find((b) => b.name === "my-backend")?.metadata.version).toBe("2.0.0");
    expect(n.backends.find((b) => b.name === "my-backend-development")?.metadata.version).toBe("1.0.0");
  });
});

// Auto-upgrade (through rollouts) is tested in auto-upgrade.test.ts.
