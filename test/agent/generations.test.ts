import { chmod, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BackendStore, newGenerationId, type Step } from "../../src/agent/generations.js";
import type { BackendMetadata } from "../../src/protocol/index.js";
import { removeDir, tempDir } from "../harness/proc.js";
import { localaiList, localaiSummary, runBackend } from "./localai.js";

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

/** A run.sh that, like LocalAI's, finds its files through `realpath "$0"`, and prints its version. */
const RUN_SH = '#!/bin/sh\ncat "$(dirname "$(realpath "$0")")/version"\n';

/** Stage a backend tree whose content says `version`. */
async function stage(s: BackendStore, version: string, extra: string[] = []): Promise<string> {
  const dir = await s.createStaging("op");
  await writeFile(join(dir, "run.sh"), RUN_SH);
  await chmod(join(dir, "run.sh"), 0o755);
  await writeFile(join(dir, "version"), version);
  for (const e of extra) await writeFile(join(dir, e), e);
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
    await writeFile(join(root, "b", "run.sh"), RUN_SH, { mode: 0o755 });
    await writeFile(join(root, "b", "version"), "legacy");
    await expect(store(root, "adopted-moved").init()).rejects.toBeInstanceOf(Killed);
    const r = store(root);
    await r.init();
    expect(await liveVersion(root)).toBe("legacy");
    expect(await r.kind("b")).toBe("concrete");
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

  it("<root>/<name> is a real directory of links through `current` and holds LocalAI's metadata.json", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    const { generation } = await s.commit("b", await stage(s, "1"), {
      ...md("1"),
      digest: "sha256:" + "a".repeat(64),
    });
    expect((await lstat(join(root, "b"))).isDirectory()).toBe(true);
    expect(await readlink(join(root, "b", "current"))).toBe(`../.generations/b/${generation}`);
    expect((await readdir(join(root, "b"))).sort()).toEqual([
      "current",
      "metadata.json",
      "run.sh",
      "version",
    ]);
    expect(await readlink(join(root, "b", "run.sh"))).toBe("current/run.sh");
    const text = await readFile(join(root, "b", "metadata.json"), "utf8");
    expect(text).toBe(
      `{\n  "name": "b",\n  "installed_at": "2026-01-01T00:00:00Z",\n  "version": "1",\n  "digest": "sha256:${"a".repeat(64)}"\n}\n`,
    );
    expect((await stat(join(root, "b", "metadata.json"))).mode & 0o777).toBe(0o644);
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

/** The old layout, as an agent before the LocalAI-readable one wrote it: `<root>/<name>` -> generation. */
async function oldLayout(root: string, name: string, versions: string[]): Promise<void> {
  let prev: string | undefined;
  for (const v of versions) {
    const id = newGenerationId(Date.UTC(2026, 0, 1), prev);
    prev = id;
    const g = join(root, ".generations", name, id);
    await mkdir(g, { recursive: true });
    await writeFile(join(g, "run.sh"), RUN_SH, { mode: 0o755 });
    await writeFile(join(g, "version"), v);
    await writeFile(
      join(g, "metadata.json"),
      JSON.stringify({ ...md(v), name, uri: `oci://r/${name}:${v}` }),
    );
  }
  await symlink(join(".generations", name, prev!), join(root, name));
}

/** What LocalAI lists must be exactly `expected`, each one runnable and printing its version. */
async function expectLocalAI(root: string, expected: Record<string, string>): Promise<void> {
  const seen = await localaiList(root);
  expect(Object.fromEntries(Object.entries(seen).map(([n, b]) => [n, b.metadata.version ?? null]))).toEqual(
    expected,
  );
  for (const [name, b] of Object.entries(seen)) {
    expect((await runBackend(b.runFile)).trim(), name).toBe(expected[name]);
  }
}

describe("LocalAI reads the backends dir as its own", () => {
  const mdOf = (v: string): BackendMetadata => ({
    ...md(v),
    uri: `oci://registry/b:${v}`,
    digest: `sha256:${v.repeat(64).slice(0, 64)}`,
  });

  it("lists every backend with its name, uri, digest and version through upgrade, rollback and delete", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1", ["only-in-1"]), mdOf("1"));
    await s.commit("c", await stage(s, "7"), { ...mdOf("7"), name: "c" });
    await s.writeMeta({ name: "m", meta_backend_for: "b", version: "1" });
    const sum = (v: string) => [`oci://registry/b:${v}`, `sha256:${v.repeat(64)}`, v];
    expect(await localaiSummary(root)).toEqual({ b: sum("1"), c: sum("7"), m: [null, null, "1"] });
    await expectLocalAI(root, { b: "1", c: "7", m: "1" });

    await s.commit("b", await stage(s, "2", ["only-in-2"]), mdOf("2"));
    await s.writeMeta({ name: "m", meta_backend_for: "b", version: "2" });
    expect(await localaiSummary(root)).toEqual({ b: sum("2"), c: sum("7"), m: [null, null, "2"] });
    await expectLocalAI(root, { b: "2", c: "7", m: "2" });
    // The entries follow the live generation: the old one's extra file is gone, the new one's shows.
    expect((await readdir(join(root, "b"))).sort()).toEqual([
      "current",
      "metadata.json",
      "only-in-2",
      "run.sh",
      "version",
    ]);

    await s.rollback("b");
    await s.writeMeta({ name: "m", meta_backend_for: "b", version: "1" });
    expect(await localaiSummary(root)).toEqual({ b: sum("1"), c: sum("7"), m: [null, null, "1"] });
    await expectLocalAI(root, { b: "1", c: "7", m: "1" });
    expect(await readFile(join(root, "b", "only-in-1"), "utf8")).toBe("only-in-1");

    await s.removeMeta("m");
    await s.removeConcrete("b");
    expect(await localaiSummary(root)).toEqual({ c: sum("7") });
    await expectLocalAI(root, { c: "7" });
    await clean(root);
  });

  it("none of the private directories reads as a backend, even mid-install", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1"), md("1"));
    await stage(s, "2"); // a staged tree with run.sh, as during a download
    const dirs = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory());
    expect(dirs.map((e) => e.name).sort()).toEqual([".generations", ".staging", ".trash", "b"]);
    await expectLocalAI(root, { b: "1" });
  });

  it("a tree with a top-level `current` entry is refused before anything changes", async () => {
    const root = await newRoot();
    const s = store(root);
    await s.init();
    await s.commit("b", await stage(s, "1"), md("1"));
    await expect(s.commit("b", await stage(s, "2", ["current"]), md("2"))).rejects.toThrow(/reserves/);
    await expectLocalAI(root, { b: "1" });
  });

  it("an agent started on the old layout migrates it; rollback still reaches the older generation", async () => {
    const root = await newRoot();
    await oldLayout(root, "b", ["1", "2"]);
    await oldLayout(root, "c", ["5"]);
    expect(await localaiList(root)).toEqual({}); // what LocalAI saw before: nothing
    const s = store(root);
    await s.init();
    await expectLocalAI(root, { b: "2", c: "5" });
    expect((await localaiList(root)).b!.metadata.uri).toBe("oci://r/b:2");
    await s.rollback("b");
    await expectLocalAI(root, { b: "1", c: "5" });
    await clean(root);
  });

  const migrationSteps: Step[] = [
    "migrate-marked",
    "migrate-unlinked",
    "layout-built",
    "layout-moved",
    "migrated",
  ];
  for (const step of migrationSteps) {
    it(`a migration killed after '${step}' leaves every backend runnable after the restart`, async () => {
      const root = await newRoot();
      await oldLayout(root, "b", ["1", "2"]);
      await oldLayout(root, "c", ["5"]);
      await expect(store(root, step).init()).rejects.toBeInstanceOf(Killed);
      // Whatever is on disk now, every generation's files are intact.
      expect((await readdir(join(root, ".generations", "b"))).filter((g) => !g.startsWith("."))).toHaveLength(
        2,
      );
      const r = store(root);
      await r.init();
      await expectLocalAI(root, { b: "2", c: "5" });
      expect(await r.kind("b")).toBe("concrete");
      expect(await r.kind("c")).toBe("concrete");
      expect((await r.live("b"))!.previous).toHaveLength(1);
      await clean(root);
    });
  }

  it("a directory LocalAI wrote is adopted as generation 1 with its metadata, not reinstalled", async () => {
    const root = await newRoot();
    await mkdir(join(root, "llama"));
    await writeFile(join(root, "llama", "run.sh"), RUN_SH, { mode: 0o755 });
    await writeFile(join(root, "llama", "version"), "v9");
    const localaiMd = {
      name: "llama",
      version: "v9",
      uri: "quay.io/x/llama:v9",
      digest: "sha256:" + "9".repeat(64),
    };
    await writeFile(join(root, "llama", "metadata.json"), JSON.stringify(localaiMd));
    const s = store(root);
    await s.init();
    expect(await s.generationIds("llama")).toHaveLength(1);
    expect((await s.live("llama"))!.metadata).toMatchObject(localaiMd);
    await expectLocalAI(root, { llama: "v9" });
    expect((await localaiList(root)).llama!.metadata).toEqual(localaiMd);
    await clean(root);
  });

  for (const step of ["adopted-moved", "layout-built", "layout-moved", "adopted"] as Step[]) {
    it(`adopting a LocalAI directory killed after '${step}' is finished by the restart`, async () => {
      const root = await newRoot();
      await mkdir(join(root, "llama"));
      await writeFile(join(root, "llama", "run.sh"), RUN_SH, { mode: 0o755 });
      await writeFile(join(root, "llama", "version"), "v9");
      await writeFile(join(root, "llama", "metadata.json"), JSON.stringify({ name: "llama", version: "v9" }));
      await expect(store(root, step).init()).rejects.toBeInstanceOf(Killed);
      const r = store(root);
      await r.init();
      await expectLocalAI(root, { llama: "v9" });
      expect(await r.generationIds("llama")).toHaveLength(1);
      await clean(root);
    });
  }

  it("after every step of an upgrade killed there, LocalAI lists the backend and it runs", async () => {
    for (const step of ["validated", "synced", "committed", "activated", "collected"] as Step[]) {
      const root = await newRoot();
      const ok = store(root);
      await ok.init();
      await ok.commit("b", await stage(ok, "1", ["a"]), md("1"));
      const crashing = store(root, step);
      await expect(crashing.commit("b", await stage(crashing, "2", ["z"]), md("2"))).rejects.toBeInstanceOf(
        Killed,
      );
      // Before any restart, too: the crash never left the backend unlisted.
      const live = ["activated", "collected"].includes(step) ? "2" : "1";
      await expectLocalAI(root, { b: live });
      await store(root).init();
      await expectLocalAI(root, { b: live });
      await clean(root);
    }
  });
});
