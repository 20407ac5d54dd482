import { describe, expect, it } from "vitest";
import { PathLocks } from "../../src/agent/path-locks.js";

/** Reserve `paths`, recording when the job starts; returns a function that finishes it. */
function job(locks: PathLocks, started: string[], name: string, paths: string[]): () => void {
  let done: (() => void) | undefined;
  locks.reserve(paths, (d) => {
    started.push(name);
    done = d;
  });
  return () => done!();
}

describe("path locks (node-tar's reservations, forgetting each entry once written)", () => {
  it("runs entries on one path one after the other, in order", () => {
    const locks = new PathLocks();
    const started: string[] = [];
    const a1 = job(locks, started, "a1", ["x/a"]);
    const a2 = job(locks, started, "a2", ["x/a/"]);
    const b = job(locks, started, "b", ["x/b"]);
    expect(started).toEqual(["a1", "b"]);
    a1();
    expect(started).toEqual(["a1", "b", "a2"]);
    a2();
    b();
    expect(locks.held).toBe(0);
  });

  it("a directory waits for earlier entries below it, and later entries below it wait for it", () => {
    const locks = new PathLocks();
    const started: string[] = [];
    const below1 = job(locks, started, "below1", ["d/1"]);
    const below2 = job(locks, started, "below2", ["d/2"]);
    const dir = job(locks, started, "dir", ["d"]);
    const below3 = job(locks, started, "below3", ["d/3"]);
    expect(started).toEqual(["below1", "below2"]);
    below2();
    expect(started).toEqual(["below1", "below2"]);
    below1();
    expect(started).toEqual(["below1", "below2", "dir"]);
    dir();
    expect(started).toEqual(["below1", "below2", "dir", "below3"]);
    below3();
    expect(locks.held).toBe(0);
  });

  it("a link waits for its target, and names differing only in case or Unicode form collide", () => {
    const locks = new PathLocks();
    const started: string[] = [];
    const target = job(locks, started, "target", ["lib/a.so"]);
    const link = job(locks, started, "link", ["lib/b.so", "lib/a.so"]);
    const upper = job(locks, started, "upper", ["LIB/B.SO"]);
    const nfc = job(locks, started, "nfc", ["caf\u00e9"]);
    const nfd = job(locks, started, "nfd", ["cafe\u0301"]);
    expect(started).toEqual(["target", "nfc"]);
    target();
    expect(started).toEqual(["target", "nfc", "link"]);
    link();
    nfc();
    expect(started).toEqual(["target", "nfc", "link", "upper", "nfd"]);
    upper();
    nfd();
    nfd(); // a second done is ignored
    expect(locks.held).toBe(0);
  });
});
