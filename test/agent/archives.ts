import { gzipSync } from "node:zlib";
import { Header, type HeaderData } from "tar";

export interface TarItem {
  path: string;
  type?: HeaderData["type"];
  linkpath?: string;
  body?: string | Buffer;
  mode?: number;
}

/** Hand-made tar bytes (gzip), so tests can build archives no well-behaved tool would write. */
export function tarball(items: TarItem[], gzip = true): Buffer {
  const blocks: Buffer[] = [];
  for (const it of items) {
    const body = it.body === undefined ? Buffer.alloc(0) : Buffer.from(it.body);
    const type = it.type ?? "File";
    const h = new Header({
      path: it.path,
      type,
      linkpath: it.linkpath,
      size: type === "File" ? body.length : 0,
      mode: it.mode ?? (type === "Directory" ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
      devmaj: 0,
      devmin: 0,
    });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (type === "File" && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return gzip ? gzipSync(tar) : tar;
}

export const RUN_SH: TarItem = { path: "run.sh", body: "#!/bin/sh\necho ok\n", mode: 0o755 };
