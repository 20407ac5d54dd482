import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { MIRROR, type MirrorSpecs } from "../../src/controller/view.js";
import * as P from "../../src/protocol/index.js";
import { FEED, type FeedSpecs } from "../../src/store/feed-buckets.js";

describe("the bucket table", () => {
  it("names every bucket on the server from its row", () => {
    expect(P.BUCKET_KEYS).toEqual(
      expect.arrayContaining(["nodes", "inventory", "ops", "upgrades", "settings", "leases"]),
    );
    for (const b of P.BUCKET_KEYS) expect(P.bucketNames("team.a")[b]).toBe(`team_a_${b}`);
    expect(P.bucketNames("team.a")).toMatchObject({
      nodes: "team_a_nodes",
      inventory: "team_a_inventory",
      ops: "team_a_ops",
      upgrades: "team_a_upgrades",
      settings: "team_a_settings",
      leases: "team_a_leases",
    });
  });

  it("builds and parses each key shape", () => {
    expect(P.BUCKETS.nodes.key.build("gpu.01")).toBe("gpu-01");
    expect(P.BUCKETS.nodes.key.parse("gpu-01")).toBe("gpu-01");
    expect(P.BUCKETS.nodes.key.parse("gpu.01")).toBeNull();
    expect(P.BUCKETS.ops.key.parse(P.BUCKETS.ops.key.build({ nodeId: "n1", opId: "op-1" }))).toEqual({
      nodeId: "n1",
      opId: "op-1",
    });
    expect(P.BUCKETS.upgrades.key.build("llama.cpp")).toBe("llama.cpp");
    expect(P.BUCKETS.settings.key.parse("cluster")).toBe("cluster");
    expect(P.BUCKETS.settings.key.parse("other")).toBeNull();
    expect(P.BUCKET_KEYS.filter((b) => P.onlyKey(b) !== undefined)).toEqual(["settings", "checks"]);
    expect(P.CHECKS_KEY).toBe("upgrades");
    expect(P.SETTINGS_KEY).toBe("cluster");
  });

  it("gives agents only buckets whose keys start with the node id, so permissions can confine them", () => {
    const agentWritten = P.BUCKET_KEYS.filter((b) => P.BUCKETS[b].writers.includes("agent"));
    expect(agentWritten).toEqual(["inventory", "ops"]);
    expect(P.BUCKETS.inventory.key.build("gpu-01")).toBe("gpu-01");
    expect(P.BUCKETS.ops.key.build({ nodeId: "gpu-01", opId: "op-1" }).startsWith("gpu-01.")).toBe(true);
  });

  it("is listed in docs/protocol.md, row for row, with each key shape and agent writer", async () => {
    const doc = await readFile(new URL("../../docs/protocol.md", import.meta.url), "utf8");
    for (const b of P.BUCKET_KEYS) {
      const row = doc.split("\n").find((l) => l.startsWith(`| \`<p>_${b}\` |`));
      expect(row, `docs/protocol.md has no row for ${b}`).toBeDefined();
      const [, , key, value, writtenBy] = row!.split("|").map((c) => c.trim());
      expect(key, b).toContain(P.BUCKETS[b].key.describe);
      expect(value, b).toMatch(/^`[A-Za-z]+`/);
      expect(/agent/.test(writtenBy!), `${b} written by: ${writtenBy}`).toBe(
        P.BUCKETS[b].writers.includes("agent"),
      );
    }
  });

  it("has a decision in every consumer, for every bucket", () => {
    expect(Object.keys(MIRROR).sort()).toEqual([...P.BUCKET_KEYS].sort());
    expect(Object.keys(FEED).sort()).toEqual([...P.BUCKET_KEYS].sort());
  });
});

/**
 * Compile-time: a consumer that leaves a bucket out, as happens to every consumer when a row is
 * added to the table, does not compile (`tsc` fails if an error expected here is missing). Checked
 * by `make typecheck`; vitest only runs the assertions.
 */
describe("a forgotten consumer", () => {
  it("does not compile", () => {
    // @ts-expect-error the mirror must decide about leases too
    const mirror: MirrorSpecs = {
      nodes: null,
      inventory: null,
      ops: null,
      upgrades: null,
      settings: null,
    };
    // @ts-expect-error the dashboard feed must decide about leases too
    const feed: FeedSpecs = {
      nodes: null,
      inventory: null,
      ops: null,
      upgrades: null,
      settings: null,
    };
    const wrongShape: FeedSpecs = {
      nodes: null,
      inventory: null,
      // @ts-expect-error ops has many keys: it is kept as a map, not as one value
      ops: "value",
      upgrades: null,
      // @ts-expect-error settings holds one record: it is kept as its value
      settings: { storeKey: (k: string) => k },
      leases: null,
    };
    expect(Object.keys(mirror)).not.toContain("leases");
    expect(Object.keys(feed)).not.toContain("leases");
    expect(wrongShape.ops).toBe("value");
  });
});
