import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { OpRefusedError } from "./errors.js";
import { checkTree } from "./extract.js";

/**
 * Can this tree go live as a backend: run.sh present at its root, a regular file, executable;
 * every symlink resolving inside. Returns the tree's size. The agent checks every staged tree with
 * it, and `backplane publish` checks a directory before pushing it.
 */
export async function validateBackendTree(root: string): Promise<number> {
  const run = await lstat(join(root, "run.sh")).catch(() => null);
  if (!run) throw new OpRefusedError("the backend has no run.sh at its root");
  if (!run.isFile()) throw new OpRefusedError("run.sh is not a regular file");
  if ((run.mode & 0o111) === 0) throw new OpRefusedError("run.sh is not executable");
  return checkTree(root);
}
