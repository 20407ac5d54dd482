import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BackendStore, newGenerationId, type Step } from "../../src/agent/generations.js";
import type { BackendMetadata } from "../../src/protocol/index.js";
import { removeDir, tempDir } from "../harness/proc.js";

/** Stands for `kill -9`: thrown from a step hook, nothing after it runs (no cleanup either). */
class Killed extends Error {}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function newRoot(): Promise<string> {
  const d = await tempDir("gens");
  dirs.push(d);
  return d;
}

function store(root: string, crashAt?: Step): BackendStore {
  return new BackendStore({
    root,
    keep: 2,
    fsync: false,
    onStep: (s) => {
      if (s === crashAt) throw new Killed(s);
    },
  });
}

/** Stage a backend tree whose content says `version`. */
async function stage(s: BackendStore, version: string): Promise<string> {
  const dir = await s.createStaging("op");
  await writeFile(join(dir, "run.sh"), "#!/bin/sh\n");
  await chmod(join(dir, "run.sh"), 0o755);
  await writeFile(join(dir, "version"), version);
  return dir;
}

const md = (version: string): BackendMetadata => ({
  name: "b",
  version,
  installed_at: "2026-01-01T00:00:00Z",
});

async function liveVersion(root: string, name = "b"): Promise<string | null> {
  return readFile(join(root, name, "version"), "utf8").catch(() => null);
}

/** Nothing half-done is left: no staging, no trash, no temp links. */
async function clean(root: string): Promise<void> {
  expect(await readdir(join(root, ".staging"))).toEqual([]);
  expect(await readdir(join(root, ".trash"))).toEqual([]);
  expect((await readdir(root)).filter((e) => e.includes("tmp-link"))).toEqual([]);
}

describe("generation store: an upgrade killed at each step (Mender-style state chain)", () => {
  const chain: Array<[Step, string]> = [
    ["validated", "1"],
    ["metadata-written", "1"],
    ["synced", "1"],
    ["committed", "1"],
    ["activated", "2"],
    ["collected", "2"],
  ];
  for (const [step, live] of chain) {
    it(`killed after '${step}': after recovery version ${live} is live and a retry succeeds`, async () => {
      const root = await newRoot();
      const ok = store(root);
      await ok.init();
      await ok.commit("b", await stage(ok, "1"), md("1"));

      const crashing = store(root, step);
      await expect(crashing.commit("b", await stage(crashing, "2"), md("2"))).rejects.toBeInstanceOf(Killed);

      const restarted = store(root);
      await restarted.init();
      expect(await liveVersion(root)).toBe(live);
      await clean(root);
      const gens = await restarted.generationIds("b");
      const current = await restarted.live("b");
      expect(gens[0]).toBe(current!.generation);

      await restarted.commit("b", await stage(restarted, "3"), md("3"));
      expect(await liveVersion(root)).toBe("3");
      await clean(root);
    });
  }

  it("a first install killed before its swap leaves nothing installed", async () => {
    const root = await newRoot();
    const crashing = store(root, "committed");
    await crashing.init();
    await expect(crashing.commit("b", await stage(crashing, "1"), md("1"))).rejects.toBeInstanceOf(Killed);
    await store(root).init();
    expect(await lstat(join(root, "b")).catch(() => null)).toBeNull();
    expect(await readdir(join(root, ".generations"))).toEqual([]);
    await clean(root);
  });

  for (const step of ["delete-marked", "delete-unlinked", "delete-moved"] as Step[]) {
    it(`a delete killed after '${step}' is finished by recovery`, async () => {
      const root = await newRoot();
      const s = store(root);
      await s.init();
      await s.commit("b", await stage(s, "1"), md("1"));
      await expect(store(root, step).removeConcrete("b")).rejects.toBeInstanceOf(Killed);
      await store(root).init();
      expect(await lstat(join(root, "b")).catch(() => null)).toBeNull();
      expect(await readdir(join(root, ".generations"))).toEqual([]);
      await clean(root);
    });
  }

  it("a rollback killed after its swap keeps the older version and drops the newer one", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1"), md("1"));
    await s.commit("b", await stage(s, "2"), md("2"));
    await expect(store(root, "rollback-activated").rollback("b")).rejects.toBeInstanceOf(Killed);
    const r = store(root);
    await r.init();
    expect(await liveVersion(root)).toBe("1");
    expect(await r.generationIds("b")).toHaveLength(1);
    await clean(root);
  });

  it("adopting a LocalAI directory, killed between its move and its link, is finished by recovery", async () => {
    const root = await newRoot();
    await mkdir(join(root, "b"), { recursive: true });
    await writeFile(join(root, "b", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    await writeFile(join(root, "b", "version"), "legacy");
    const crashing = store(root, "adopted-moved");
    await crashing.init();
    await expect(crashing.commit("b", await stage(crashing, "2"), md("2"))).rejects.toBeInstanceOf(Killed);
    const r = store(root);
    await r.init();
    expect(await liveVersion(root)).toBe("legacy");
    expect((await lstat(join(root, "b"))).isSymbolicLink()).toBe(true);
    await clean(root);
  });
});

describe("generation store: layout", () => {
  it("lists concretes, metas and LocalAI directories, but not a directory whose run.sh dangles", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1"), md("1"));
    await s.commit("b", await stage(s, "2"), md("2"));
    await s.writeMeta({ name: "m", meta_backend_for: "b" });
    await mkdir(join(root, "old"));
    await writeFile(join(root, "old", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    await mkdir(join(root, "broken"));
    await symlink("missing.sh", join(root, "broken", "run.sh"));
    const rows = await s.list();
    expect(
      rows.map((r) => [r.name, r.isMeta, r.metadata.version ?? null, r.previousGenerations.length]),
    ).toEqual([
      ["b", false, "2", 1],
      ["m", true, null, 0],
      ["old", false, null, 0],
    ]);
  });

  it("refuses a tree without an executable run.sh and leaves the live version alone", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1"), md("1"));
    const bad = await s.createStaging("op");
    await writeFile(join(bad, "run.sh"), "#!/bin/sh\n", { mode: 0o644 });
    await expect(s.commit("b", bad, md("2"))).rejects.toThrow(/run.sh is not executable/);
    const none = await s.createStaging("op");
    await expect(s.commit("b", none, md("2"))).rejects.toThrow(/no run.sh/);
    expect(await liveVersion(root)).toBe("1");
  });

  it("links <root>/<name> relatively to .generations/<name>/<id> and writes LocalAI metadata.json", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    const { generation } = await s.commit("b", await stage(s, "1"), {
      ...md("1"),
      digest: "sha256:" + "a".repeat(64),
    });
    expect(await readlink(join(root, "b"))).toBe(`.generations/b/${generation}`);
    const text = await readFile(join(root, "b", "metadata.json"), "utf8");
    expect(text).toBe(
      `{\n  "name": "b",\n  "installed_at": "2026-01-01T00:00:00Z",\n  "version": "1",\n  "digest": "sha256:${"a".repeat(64)}"\n}\n`,
    );
    expect((await lstat(join(root, "b", "metadata.json"))).mode & 0o777).toBe(0o644);
  });

  it("with fsync on (syncfs after each layer and before the swap) a commit still goes live", async () => {
    const root = await newRoot();
    const s = new BackendStore({ root, fsync: true });
    await s.init();
    const staging = await stage(s, "1");
    s.flushEarly(staging);
    await s.commit("b", staging, md("1"));
    expect(await liveVersion(root)).toBe("1");
    await clean(root);
  });

  it("generation ids sort by time and always after the previous one, even with a clock that went back", () => {
    const a = newGenerationId(Date.UTC(2026, 0, 1, 12));
    const b = newGenerationId(Date.UTC(2025, 0, 1), a);
    expect(a).toMatch(/^20260101T120000000Z-[0-9a-f]{4}$/);
    expect(b > a).toBe(true);
  });

  it("keeps the live generation plus `keep` older ones", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    for (const v of ["1", "2", "3", "4", "5"]) await s.commit("b", await stage(s, v), md(v));
    const live = await s.live("b");
    expect(live!.previous).toHaveLength(2);
    expect(await s.generationIds("b")).toHaveLength(3);
    await s.rollback("b");
    expect(await liveVersion(root)).toBe("4");
  });
});
