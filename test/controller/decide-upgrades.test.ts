import { describe, expect, it } from "vitest";
import { planAutoUpgrade, sameTarget } from "../../src/controller/decide/auto-upgrade.js";
import {
  computeUpgrades,
  findingsByNode,
  planUpgradeCheck,
  summaryOf,
  type UriDigest,
} from "../../src/controller/decide/upgrades.js";
import {
  DEFAULT_STRATEGY,
  NodeUpgrades,
  UpgradeInfo,
  type Rollout,
  type RolloutState,
  type UpgradeFindings,
} from "../../src/protocol/index.js";
import { T0, catalogOf, entry, installed, inventory, op } from "./facts.js";

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe("upgrade check — seed 000: CheckUpgradesAgainst (distributed)", () => {
  // Generic names, as the seed's tests use, so no capability filter interferes.
  const catalog = catalogOf(
    entry("my-backend", {
      uri: "quay.io/x/b:latest-my-backend",
      alias: "my-backend-alias",
      version: "2.0.0",
    }),
    entry("my-backend-development", {
      uri: "quay.io/x/b:master-my-backend",
      alias: "my-backend-alias",
      version: "2.0.0",
    }),
  );
  const check = (...rows: Parameters<typeof inventory>[1]) =>
    computeUpgrades(planUpgradeCheck([inventory("n1", rows)], catalog), new Map(), T0).map((u) => u.backend);

  it("dev-only installed: only the dev variant surfaces", () => {
    expect(
      check(installed("my-backend-development", { version: "1.0.0", alias: "my-backend-alias" })),
    ).toEqual(["my-backend-development"]);
  });

  it("both variants installed: dev still wins, stable is not offered", () => {
    const plan = planUpgradeCheck(
      [
        inventory("n1", [
          installed("my-backend", { version: "1.0.0" }),
          installed("my-backend-development", { version: "1.0.0" }),
        ]),
      ],
      catalog,
    );
    expect(plan.suppressed).toEqual([
      { nodeId: "n1", row: "my-backend", because: "my-backend-development is installed" },
    ]);
    expect(computeUpgrades(plan, new Map(), T0).map((u) => u.backend)).toEqual(["my-backend-development"]);
  });

  it("a synthetic alias row (key != metadata.name) is ignored", () => {
    expect(
      check(
        installed("my-backend-development", { version: "1.0.0" }),
        // LocalAI's alias row: keyed by the alias, re-using the dev concrete's metadata.
        installed("my-backend", { name: "my-backend-development", version: "1.0.0" }),
      ),
    ).toEqual(["my-backend-development"]);
    // An alias row alone is nothing to upgrade.
    expect(check(installed("my-backend", { name: "my-backend-development", version: "1.0.0" }))).toEqual([]);
  });

  it("the rule is per node: stable is still offered where no dev twin is installed", () => {
    const plan = planUpgradeCheck(
      [
        inventory("n1", [
          installed("my-backend", { version: "1.0.0" }),
          installed("my-backend-development", { version: "1.0.0" }),
        ]),
        inventory("n2", [installed("my-backend", { version: "1.0.0" })]),
      ],
      catalog,
    );
    const ups = computeUpgrades(plan, new Map(), T0);
    expect(ups.map((u) => [u.backend, u.nodes.map((n) => n.nodeId)])).toEqual([
      ["my-backend", ["n2"]],
      ["my-backend-development", ["n1"]],
    ]);
  });
});

describe("upgrade check — seed 001: versions, then digests", () => {
  const catalog = catalogOf(
    entry("versioned", { uri: "quay.io/x/v:latest", version: "1.3.0" }),
    entry("opaque", { uri: "quay.io/x/o:latest", version: "build-42" }),
    entry("digest-only", { uri: "quay.io/x/d:latest" }),
    entry("tarball", { uri: "https://example.com/t.tar.gz" }),
    entry("llama", { capabilities: { default: "cpu-llama" } }),
    entry("cpu-llama", { uri: "quay.io/x/l:cpu" }),
  );

  const table: Array<{
    name: string;
    meta: Record<string, string>;
    backend?: string;
    upgradable: boolean;
    via?: string;
  }> = [
    {
      name: "older semver",
      backend: "versioned",
      meta: { version: "1.2.0" },
      upgradable: true,
      via: "version",
    },
    { name: "same semver", backend: "versioned", meta: { version: "1.3.0" }, upgradable: false },
    { name: "gallery downgrade", backend: "versioned", meta: { version: "1.4.0" }, upgradable: false },
    { name: "pre-versioning install", backend: "versioned", meta: {}, upgradable: true, via: "version" },
    {
      name: "non-semver differs",
      backend: "opaque",
      meta: { version: "build-41" },
      upgradable: true,
      via: "version",
    },
    { name: "non-semver same", backend: "opaque", meta: { version: "build-42" }, upgradable: false },
    {
      name: "digest moved",
      backend: "digest-only",
      meta: { digest: D("a") },
      upgradable: true,
      via: "digest",
    },
    { name: "digest current", backend: "digest-only", meta: { digest: D("b") }, upgradable: false },
    {
      name: "platform manifest of the current index",
      backend: "digest-only",
      meta: { digest: D("c") },
      upgradable: false,
    },
    { name: "no digest recorded", backend: "digest-only", meta: {}, upgradable: true, via: "digest" },
    { name: "non-OCI without versions", backend: "tarball", meta: {}, upgradable: false },
  ];
  const digests = new Map<string, UriDigest>([
    ["quay.io/x/d:latest", { digest: D("b"), manifests: [D("c"), D("e")] }],
  ]);
  for (const c of table) {
    it(`${c.name}: ${c.upgradable ? "upgrade" : "no upgrade"}`, () => {
      const plan = planUpgradeCheck([inventory("n1", [installed(c.backend!, c.meta)])], catalog);
      const ups = computeUpgrades(plan, digests, T0);
      if (!c.upgradable) return expect(ups).toEqual([]);
      expect(ups).toHaveLength(1);
      expect(ups[0]).toMatchObject({ backend: c.backend, via: c.via, checkedAt: T0 });
      expect(ups[0]!.nodes).toEqual([expect.objectContaining({ nodeId: "n1", upgradable: true })]);
    });
  }

  it("HEADs each distinct OCI URI once, and only where versions cannot decide", () => {
    const invs = Array.from({ length: 5 }, (_, i) =>
      inventory(`n${i}`, [
        installed("digest-only"),
        installed("versioned", { version: "1.0.0" }),
        installed("cpu-llama"),
      ]),
    );
    expect(planUpgradeCheck(invs, catalog).uris).toEqual(["quay.io/x/d:latest", "quay.io/x/l:cpu"]);
  });

  it("a failed HEAD leaves that backend unknown rather than flagged", () => {
    const plan = planUpgradeCheck([inventory("n1", [installed("digest-only", { digest: D("a") })])], catalog);
    expect(computeUpgrades(plan, new Map([["quay.io/x/d:latest", { error: "HTTP 500" }]]), T0)).toEqual([]);
  });

  it("a concrete installed through a meta is reported under the meta's name", () => {
    const plan = planUpgradeCheck(
      [
        inventory("n1", [
          installed("llama", { meta_backend_for: "cpu-llama" }),
          installed("cpu-llama", { digest: D("a") }),
        ]),
      ],
      catalog,
    );
    const ups = computeUpgrades(plan, new Map([["quay.io/x/l:cpu", { digest: D("b") }]]), T0);
    expect(ups).toMatchObject([
      {
        backend: "llama",
        availableDigest: D("b"),
        installedDigest: D("a"),
        nodes: [{ nodeId: "n1", concrete: "cpu-llama" }],
      },
    ]);
  });

  it("reports per-node drift against the majority, ignoring platform differences", () => {
    const invs = [
      inventory("n1", [installed("digest-only", { digest: D("c") })]), // amd64 manifest of the current index
      inventory("n2", [installed("digest-only", { digest: D("e") })]), // arm64 manifest of the current index
      inventory("n3", [installed("digest-only", { digest: D("b") })]), // the index itself
      inventory("n4", [installed("digest-only", { digest: D("a") })]), // an old build
    ];
    const ups = computeUpgrades(planUpgradeCheck(invs, catalog), digests, T0);
    expect(ups).toHaveLength(1);
    expect(ups[0]!.drift.map((n) => n.nodeId)).toEqual(["n4"]);
    expect(ups[0]!.nodes.filter((n) => n.upgradable).map((n) => n.nodeId)).toEqual(["n4"]);
    expect(ups[0]!.installedDigest).toBe(D("c"));
  });

  it("version drift with nothing newer is still reported", () => {
    const cat = catalogOf(entry("v", { uri: "quay.io/x/v:1", version: "1.0.0" }));
    const invs = [
      inventory("n1", [installed("v", { version: "1.0.0" })]),
      inventory("n2", [installed("v", { version: "1.0.0" })]),
      inventory("n3", [installed("v", { version: "1.1.0" })]),
    ];
    const ups = computeUpgrades(planUpgradeCheck(invs, cat), new Map(), T0);
    expect(ups).toMatchObject([
      { backend: "v", via: "drift", installedVersion: "1.0.0", drift: [{ nodeId: "n3" }] },
    ]);
  });
});

describe("stored upgrade records: a summary per backend, rows per node", () => {
  const f = (backend: string, up: string[], drift: string[], concrete?: string): UpgradeFindings => ({
    v: 1,
    backend,
    via: "version",
    availableVersion: "2.0.0",
    installed: up.length + drift.length,
    upgradable: up.length,
    drifted: drift.length,
    nodes: up.map((nodeId) => ({ nodeId, concrete, version: "1.0.0", upgradable: true })),
    drift: drift.map((nodeId) => ({ nodeId, version: "0.9.0", upgradable: false })),
    checkedAt: T0,
  });

  it("regroups findings by node: one row per upgradable or drifted backend, a flag for each", () => {
    const byNode = findingsByNode([
      f("llama", ["n1", "n2"], ["n3"], "cpu-llama"),
      f("whisper", ["n2"], ["n1"]),
    ]);
    expect([...byNode.keys()]).toEqual(["n1", "n2", "n3"]);
    expect(byNode.get("n1")!.rows).toEqual([
      { backend: "llama", concrete: "cpu-llama", version: "1.0.0", upgradable: true, drift: false },
      { backend: "whisper", version: "0.9.0", upgradable: false, drift: true },
    ]);
    expect(byNode.get("n2")!.rows.map((r) => r.backend)).toEqual(["llama", "whisper"]);
    expect(byNode.get("n3")!.rows).toMatchObject([{ backend: "llama", upgradable: false, drift: true }]);
  });

  it("at 20,000 nodes each stored record stays small and validates", () => {
    const nodes = Array.from({ length: 20_000 }, (_, i) => `node-${i}`);
    const findings = Array.from({ length: 30 }, (_, j) => f(`backend-${j}`, nodes, []));
    for (const s of findings.map(summaryOf)) {
      expect(UpgradeInfo.safeParse(s).success).toBe(true);
      expect(JSON.stringify(s).length).toBeLessThan(1024);
    }
    const byNode = findingsByNode(findings);
    expect(byNode.size).toBe(20_000);
    const one = byNode.get("node-19999")!;
    expect(NodeUpgrades.safeParse(one).success).toBe(true);
    expect(one.rows).toHaveLength(30);
    expect(JSON.stringify(one).length).toBeLessThan(8 * 1024);
  });
});

describe("planAutoUpgrade", () => {
  const info = (backend: string, nodes: string[], extra: string[] = []): UpgradeFindings => ({
    v: 1,
    backend,
    via: "digest",
    installed: nodes.length + extra.length,
    upgradable: nodes.length,
    drifted: 0,
    nodes: [
      ...nodes.map((nodeId) => ({ nodeId, upgradable: true })),
      ...extra.map((nodeId) => ({ nodeId, upgradable: false })),
    ],
    drift: [],
    checkedAt: T0,
  });
  const inv = new Map([
    ["n1", T0],
    ["n2", T0],
    ["n3", T0],
  ]);

  it("upgrades each flagged backend once, on its flagged nodes only", () => {
    expect(
      planAutoUpgrade({
        upgrades: [info("a", ["n1", "n2"], ["n3"]), info("b", ["n3"])],
        ops: [],
        inventoryUpdatedAt: inv,
        rollouts: [],
      }),
    ).toEqual([
      { backend: "a", nodes: ["n1", "n2"], skipped: [] },
      { backend: "b", nodes: ["n3"], skipped: [] },
    ]);
  });

  it("never on a node where the backend has a failed op not yet dismissed, or an active op", () => {
    const ops = [
      op("f1", "n1", "a", { kind: "upgrade", state: "failed" }),
      op("f2", "n2", "a", { kind: "upgrade", state: "failed", dismissed: true }),
      op("r3", "n3", "a", { kind: "upgrade", state: "running" }),
    ];
    expect(
      planAutoUpgrade({
        upgrades: [info("a", ["n1", "n2", "n3"])],
        ops,
        inventoryUpdatedAt: inv,
        rollouts: [],
      }),
    ).toEqual([
      {
        backend: "a",
        nodes: ["n2"],
        skipped: [
          { nodeId: "n1", reason: "upgrade f1 failed and is not dismissed" },
          { nodeId: "n3", reason: "upgrade r3 is running" },
        ],
      },
    ]);
  });

  it("does not repeat an upgrade the node's inventory does not reflect yet", () => {
    const flagged = { ...info("a", ["n1"]), availableDigest: "sha256:new" };
    const done = op("s1", "n1", "a", {
      kind: "upgrade",
      state: "succeeded",
      finishedAt: T0 + 10,
      result: { digest: "sha256:new" },
    });
    expect(
      planAutoUpgrade({ upgrades: [flagged], ops: [done], inventoryUpdatedAt: inv, rollouts: [] })[0],
    ).toMatchObject({
      nodes: [],
      skipped: [{ nodeId: "n1", reason: "upgrade s1 already installed it; the node's inventory lags" }],
    });
    // Once the inventory is newer than the op, a flag is genuine.
    const fresh = new Map([["n1", T0 + 20]]);
    expect(
      planAutoUpgrade({ upgrades: [flagged], ops: [done], inventoryUpdatedAt: fresh, rollouts: [] })[0]!
        .nodes,
    ).toEqual(["n1"]);
    // An older install of another build, recorded just after the inventory, is no reason to skip.
    const oldInstall = op("i1", "n1", "a", {
      state: "succeeded",
      finishedAt: T0 + 10,
      result: { digest: "sha256:old" },
    });
    expect(
      planAutoUpgrade({ upgrades: [flagged], ops: [oldInstall], inventoryUpdatedAt: inv, rollouts: [] })[0]!
        .nodes,
    ).toEqual(["n1"]);
  });

  it("matches ops on the concrete installed through a meta", () => {
    const u: UpgradeFindings = {
      ...info("llama", []),
      nodes: [{ nodeId: "n1", concrete: "cpu-llama", upgradable: true }],
    };
    const ops = [op("f", "n1", "cpu-llama", { state: "failed" })];
    expect(planAutoUpgrade({ upgrades: [u], ops, inventoryUpdatedAt: inv, rollouts: [] })[0]!.nodes).toEqual(
      [],
    );
  });
});

describe("planAutoUpgrade: one rollout per backend", () => {
  const info = (backend: string, extra: Partial<UpgradeFindings> = {}): UpgradeFindings => ({
    v: 1,
    backend,
    via: "version",
    availableVersion: "2.0.0",
    installed: 2,
    upgradable: 2,
    drifted: 0,
    nodes: [
      { nodeId: "n1", concrete: `cpu-${backend}`, upgradable: true },
      { nodeId: "n2", concrete: `cpu-${backend}`, upgradable: true },
    ],
    drift: [],
    checkedAt: T0,
    ...extra,
  });
  const inv = new Map([
    ["n1", T0],
    ["n2", T0],
  ]);
  const ro = (
    id: string,
    backend: string,
    state: RolloutState,
    o: { version?: string; digest?: string; dismissed?: boolean; concrete?: string } = {},
  ): Rollout => {
    const concrete = o.concrete ?? `cpu-${backend}`;
    return {
      v: 1,
      id: `ro-${id}-0000`,
      backend,
      builds: {
        [concrete]: {
          target: {
            name: concrete,
            uri: `reg/${concrete}:latest`,
            mirrors: [],
            version: o.version ?? "2.0.0",
          },
          digest: o.digest,
        },
      },
      byCapability: {},
      targeting: { kind: "nodes" },
      total: 2,
      eligible: 2,
      waves: [1, 2],
      strategy: DEFAULT_STRATEGY,
      state,
      wave: 0,
      forgiven: 0,
      pauses: [],
      actions: [],
      dismissed: o.dismissed ?? false,
      createdAt: T0,
      createdBy: "auto-upgrade",
      updatedAt: T0,
    };
  };
  const plan = (rollouts: Rollout[], u = info("foo")) =>
    planAutoUpgrade({ upgrades: [u], ops: [], inventoryUpdatedAt: inv, rollouts })[0]!;

  it.each<[string, Rollout[], string[], string | undefined]>([
    ["no rollout yet: starts one over the flagged nodes", [], ["n1", "n2"], undefined],
    ["one running", [ro("a", "foo", "running")], [], "rollout ro-a-0000 of foo is running"],
    ["one planned", [ro("a", "foo", "planned")], [], "rollout ro-a-0000 of foo is planned"],
    [
      "one paused on its failure budget",
      [ro("a", "foo", "paused")],
      [],
      "rollout ro-a-0000 of foo is paused",
    ],
    ["one aborting", [ro("a", "foo", "aborting")], [], "rollout ro-a-0000 of foo is aborting"],
    // An operator's rollout of the concrete the meta resolves to holds it too.
    [
      "a manual rollout of its concrete",
      [ro("a", "cpu-foo", "running")],
      [],
      "rollout ro-a-0000 of cpu-foo is running",
    ],
    ["another backend's rollout does not", [ro("a", "bar", "running")], ["n1", "n2"], undefined],
    ["a succeeded one does not", [ro("a", "foo", "succeeded")], ["n1", "n2"], undefined],
    [
      "an aborted one for the same version, not dismissed",
      [ro("a", "foo", "aborted")],
      [],
      "rollout ro-a-0000 of foo to the same target was aborted; dismiss it to let auto-upgrade try again",
    ],
    [
      "a failed one for the same version, not dismissed",
      [ro("a", "foo", "failed")],
      [],
      "rollout ro-a-0000 of foo to the same target failed; dismiss it to let auto-upgrade try again",
    ],
    ["an aborted one, dismissed", [ro("a", "foo", "aborted", { dismissed: true })], ["n1", "n2"], undefined],
    [
      "an aborted one for an older version",
      [ro("a", "foo", "aborted", { version: "1.5.0" })],
      ["n1", "n2"],
      undefined,
    ],
    [
      "the newest related rollout is named",
      [ro("a", "foo", "aborted", { version: "1.5.0" }), { ...ro("b", "foo", "running"), createdAt: T0 + 1 }],
      [],
      "rollout ro-b-0000 of foo is running",
    ],
  ])("%s", (_, rollouts, nodes, blocked) => {
    const step = plan(rollouts);
    expect(step.nodes).toEqual(nodes);
    expect(step.blocked).toBe(blocked);
  });

  it("keeps the per-node skips when blocked, and reports nothing for a backend with nothing flagged", () => {
    const u = info("foo", { nodes: [{ nodeId: "n1", upgradable: false }] });
    expect(planAutoUpgrade({ upgrades: [u], ops: [], inventoryUpdatedAt: inv, rollouts: [] })).toEqual([]);
  });

  it.each<[string, Partial<UpgradeInfo>, { version?: string; digest?: string }, boolean]>([
    ["same version", { availableVersion: "2.0.0" }, { version: "2.0.0" }, true],
    ["newer version", { availableVersion: "2.1.0" }, { version: "2.0.0" }, false],
    ["same digest", { availableDigest: "sha256:a" }, { digest: "sha256:a" }, true],
    // A rebuilt image under the same version is a new target.
    [
      "same version, new digest",
      { availableVersion: "2.0.0", availableDigest: "sha256:b" },
      { version: "2.0.0", digest: "sha256:a" },
      false,
    ],
    [
      "a digest the rollout does not know: by version",
      { availableDigest: "sha256:b" },
      { version: "2.0.0" },
      true,
    ],
  ])("same target: %s", (_, u, build, same) => {
    const r = ro("a", "foo", "aborted", build);
    expect(sameTarget(r, info("foo", { availableVersion: undefined, ...u }))).toBe(same);
  });
});
