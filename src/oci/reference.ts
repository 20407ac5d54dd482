/** A parsed image reference: `[registry/]repository[:tag][@digest]`. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = "registry-1.docker.io";

/** The host to talk to for a registry name: Docker Hub's aliases (docker.io, index.docker.io) → its API host. */
export function registryHost(host: string): string {
  return host === "docker.io" || host === "index.docker.io" ? DOCKER_HUB : host;
}

/**
 * Parse an image reference the way Docker does: a first path component with a `.` or `:` or equal
 * to `localhost` is a registry host; otherwise it is Docker Hub (`library/` for single names).
 * `oci://` and `docker://` prefixes are accepted.
 */
export function parseImageRef(raw: string): ImageRef {
  let s = raw.trim().replace(/^(oci|docker):\/\//, "");
  if (!s) throw new Error("empty image reference");
  let digest: string | undefined;
  const at = s.indexOf("@");
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`bad digest in ${raw}`);
  }
  let tag: string | undefined;
  const lastSlash = s.lastIndexOf("/");
  const colon = s.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
  }
  const parts = s.split("/");
  let registry = DOCKER_HUB;
  const first = parts[0] ?? "";
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = registryHost(first);
    parts.shift();
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(repository)) {
    throw new Error(`bad repository name in ${raw}`);
  }
  if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag))
    throw new Error(`bad tag in ${raw}`);
  if (!tag && !digest) tag = "latest";
  return { registry, repository, tag, digest };
}

export function formatImageRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** Whether a gallery URI names an OCI image (as opposed to http(s) or file:// tarballs). */
export function looksLikeOci(uri: string): boolean {
  if (/^(https?|file):\/\//.test(uri)) return false;
  if (/^(oci|docker):\/\//.test(uri)) return true;
  try {
    parseImageRef(uri);
    return true;
  } catch {
    return false;
  }
}
