import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, lstat, mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/**
 * Where the controller keeps the HTTP API token it generated when none was given with `--token`,
 * and where HTTP readers look for it: `$XDG_RUNTIME_DIR/backplane/http-token` (a per-user dir
 * cleared at logout), else the state dir: `$STATE_DIRECTORY` (systemd's `StateDirectory=`),
 * `$XDG_STATE_HOME/backplane` or `~/.local/state/backplane`.
 */
export function defaultHttpTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "backplane", "http-token");
  const state =
    env.STATE_DIRECTORY?.split(":")[0] ||
    join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "backplane");
  return join(state, "http-token");
}

/** A bearer token (RFC 6750's b64token: base64, base64url or hex) of 32 to 512 characters. */
const TOKEN = /^(?=.{32,512}$)[A-Za-z0-9._~+/-]+=*$/;
const TOKEN_SHAPE = "one line of 32 to 512 characters of A-Z, a-z, 0-9, -._~+/ (e.g. openssl rand -hex 32)";

/** What an HTTP client sends: the token in `file` (the controller's), if it can read one there. */
export async function readHttpToken(file: string = defaultHttpTokenFile()): Promise<string | undefined> {
  const text = (await readFile(file, "utf8").catch(() => "")).trim();
  return TOKEN.test(text) ? text : undefined;
}

/**
 * The token in `file` if only this user could have written it and nobody else can read it: a
 * regular file (not a symlink), owned by this user, mode 0600 or narrower, holding one token.
 * Anything else may be known to someone else, so no listener serves with it; `problem` says why.
 */
export async function readPrivateToken(file: string): Promise<{ token: string } | { problem: string }> {
  let st;
  try {
    st = await lstat(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { problem: err.code === "ENOENT" ? "no such file" : err.message };
  }
  if (st.isSymbolicLink()) return { problem: "a symbolic link; give the file it points to" };
  if (!st.isFile()) return { problem: "not a regular file" };
  if (typeof process.getuid === "function" && st.uid !== process.getuid())
    return { problem: `owned by uid ${st.uid}, not by this user (uid ${process.getuid()})` };
  if ((st.mode & 0o077) !== 0)
    return { problem: `mode ${(st.mode & 0o777).toString(8)} lets others at it (chmod 600 it)` };
  let text;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch (e) {
    return { problem: (e as Error).message };
  }
  if (!text) return { problem: "empty" };
  if (!TOKEN.test(text)) return { problem: `not a token: ${TOKEN_SHAPE}` };
  return { token: text };
}

async function privateToken(file: string): Promise<string | undefined> {
  const r = await readPrivateToken(file);
  return "token" in r ? r.token : undefined;
}

/**
 * The token the controller serves HTTP with when `--token` is not given: the one already in `file`
 * when it is safe to reuse (replicas on one host and restarts agree on it), else a new random one
 * written there with mode 0600 (in a dir of mode 0700). Delete the file to rotate the token.
 */
export async function ensureHttpToken(file: string): Promise<{ token: string; generated: boolean }> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Followed if a symlink (systemd's DynamicUser= links /var/lib/<dir> to /var/lib/private/<dir>).
  const d = await stat(dir);
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  if (!d.isDirectory()) throw new Error(`${dir} is not a directory; cannot keep the HTTP token there`);
  if (uid !== undefined && d.uid !== uid) {
    throw new Error(
      `${dir} belongs to another user; cannot keep the HTTP token there (use --http-token-file)`,
    );
  }
  if ((d.mode & 0o077) !== 0) await chmod(dir, 0o700);
  const existing = await privateToken(file);
  if (existing) return { token: existing, generated: false };
  // Whatever is there cannot be trusted (a symlink, another owner, readable by others): replace it.
  await rm(file, { force: true });
  const token = randomBytes(32).toString("base64url");
  // Written whole under a private name, then linked into place: a replica starting at the same
  // moment either wins the link (and this one takes its token) or loses it.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(`${token}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, file);
    return { token, generated: true };
  } catch (e) {
    const other = (e as NodeJS.ErrnoException).code === "EEXIST" ? await privateToken(file) : undefined;
    if (other) return { token: other, generated: false };
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Whether an `Authorization` header carries `Bearer <expected>`, compared in constant time (both
 * sides hashed first, so neither the token's length nor its prefix leaks through timing).
 */
export function bearerMatches(expected: string, header: string | undefined): boolean {
  if (!expected) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const a = createHash("sha256").update(m[1]!.trim()).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
