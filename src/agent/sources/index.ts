import type { InstallTarget } from "../../protocol/index.js";
import { looksLikeOci, parseImageRef } from "../../oci/reference.js";
import { OpRefusedError } from "../errors.js";
import { fileSource } from "./file.js";
import { httpSource } from "./http.js";
import { ociSource } from "./oci.js";
import type { Source, SourceDeps } from "./types.js";

export type { FetchContext, Resolved, Source, SourceDeps } from "./types.js";

export const RELEASE_TAG = "latest";
export const BRANCH_TAG = "master";

/** The gallery's `latest-<flavour>` -> `master-<flavour>` tag fallback, for OCI refs only. */
export function tagFallback(uri: string): string | undefined {
  if (!looksLikeOci(uri)) return undefined;
  let ref;
  try {
    ref = parseImageRef(uri);
  } catch {
    return undefined;
  }
  if (!ref.tag?.startsWith(`${RELEASE_TAG}-`) || ref.digest) return undefined;
  const i = uri.lastIndexOf(`:${ref.tag}`);
  return i < 0 ? undefined : `${uri.slice(0, i)}:${BRANCH_TAG}-${ref.tag.slice(RELEASE_TAG.length + 1)}`;
}

/** Where to look, in order: the URI, its mirrors (host-less ones are Docker Hub), then the tag fallback. */
export function candidates(target: Pick<InstallTarget, "uri" | "mirrors">): string[] {
  const out = [target.uri, ...target.mirrors];
  const fb = tagFallback(target.uri);
  if (fb) out.push(fb);
  return [...new Set(out.map((u) => u.trim()).filter(Boolean))];
}

export function sourceFor(uri: string, sha256: string | undefined, deps: SourceDeps): Source {
  if (/^https?:\/\//i.test(uri)) return httpSource(uri, sha256, deps);
  if (uri.startsWith("file://") || uri.startsWith("/")) return fileSource(uri, sha256, deps);
  if (looksLikeOci(uri)) return ociSource(uri, deps);
  throw new OpRefusedError(`unsupported backend URI ${JSON.stringify(uri)}`);
}
