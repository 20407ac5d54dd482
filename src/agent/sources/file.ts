import { createReadStream, createWriteStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, readlink, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { verifiedStream } from "../../oci/verified-stream.js";
import { OpRefusedError, UnsafeArchiveError } from "../errors.js";
import { judgeEntry } from "../extract.js";
import { unpackVerified } from "./unpack-verified.js";
import type { FetchContext, Resolved, Source, SourceDeps } from "./types.js";

export function filePath(uri: string): string {
  return uri.startsWith("file://") ? fileURLToPath(uri) : uri;
}

async function treeSize(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) n += await treeSize(join(dir, e.name));
    else if (e.isFile()) n += (await lstat(join(dir, e.name))).size;
  }
  return n;
}

/** Copy a directory with the same rules as an archive: links must stay inside, no special files. */
async function copyTree(src: string, ctx: FetchContext, deps: SourceDeps, rel: string[] = []): Promise<void> {
  for (const name of (await readdir(join(src, ...rel))).sort()) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const parts = [...rel, name];
    const from = join(src, ...parts);
    const to = join(ctx.staging, ...parts);
    const st = await lstat(from);
    const type = st.isDirectory()
      ? "Directory"
      : st.isFile()
        ? "File"
        : st.isSymbolicLink()
          ? "SymbolicLink"
          : st.isFIFO()
            ? "FIFO"
            : st.isSocket()
              ? "Socket"
              : st.isCharacterDevice()
                ? "CharacterDevice"
                : "BlockDevice";
    const entry = {
      type,
      size: st.isFile() ? st.size : 0,
      linkpath: st.isSymbolicLink() ? await readlink(from) : undefined,
      mode: st.mode & 0o7777,
    };
    const verdict = judgeEntry(ctx.state, ctx.staging, parts.join("/"), entry, false);
    if (verdict !== null && verdict !== "skip") {
      throw new UnsafeArchiveError(`refusing ${parts.join("/")}: ${verdict}`);
    }
    if (type === "Directory") {
      await mkdir(to, { mode: 0o755 });
      await copyTree(src, ctx, deps, parts);
    } else if (type === "SymbolicLink") {
      await symlink(entry.linkpath!, to);
    } else {
      await ctx.state.disk?.reserve(entry.size);
      const body = verifiedStream({
        what: from,
        signal: ctx.signal,
        onBytes: ctx.onBytes,
        throttle: deps.throttle,
        retries: 0,
        open: async () => ({ body: createReadStream(from), start: 0 }),
      });
      await pipeline(body.chunks, createWriteStream(to, { mode: entry.mode }));
      await chmod(to, entry.mode);
    }
  }
}

/** A local directory (copied) or tarball (streamed like a download, sha256-checked when given). */
export function fileSource(uri: string, sha256: string | undefined, deps: SourceDeps): Source {
  const path = filePath(uri);
  const expectedDigest = sha256 ? `sha256:${sha256}` : undefined;
  return {
    uri,
    async resolve(): Promise<Resolved> {
      const st = await stat(path).catch(() => null);
      if (!st) throw new OpRefusedError(`${path} does not exist`);
      if (st.isDirectory()) {
        return {
          uri,
          totalBytes: await treeSize(path),
          async fetch(ctx) {
            await copyTree(path, ctx, deps);
            return {};
          },
        };
      }
      return {
        uri,
        digest: expectedDigest,
        totalBytes: st.size,
        async fetch(ctx) {
          const body = verifiedStream({
            what: path,
            expectedDigest,
            expectedSize: st.size,
            signal: ctx.signal,
            onBytes: ctx.onBytes,
            throttle: deps.throttle,
            retries: 0,
            open: async (from) => ({ body: createReadStream(path, { start: from }), start: from }),
          });
          await unpackVerified(body, { cwd: ctx.staging, state: ctx.state }, path, ctx.signal);
          return { digest: body.result().digest };
        },
      };
    },
  };
}
