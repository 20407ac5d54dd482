import { errorMessage } from "../lib/log.js";
import { isIndexType, parseImageRef, type RegistryClient } from "../oci/index.js";
import type { UriDigest } from "./decide/upgrades.js";
import { mapLimit } from "./map-limit.js";

/**
 * One upgrade-check round's registry look-ups: one HEAD per distinct URI, cached for the round.
 * When a tag is a multi-arch index, its platform manifest digests are read once per index
 * digest (content-addressed, so cached across rounds) so a node can be compared on the
 * manifest it actually runs.
 */
export class DigestRound {
  heads = 0;
  indexGets = 0;
  private readonly memo = new Map<string, Promise<UriDigest | { error: string }>>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly indexCache: Map<string, string[]>,
    private readonly timeoutMs = 30_000,
  ) {}

  resolve(uri: string): Promise<UriDigest | { error: string }> {
    let p = this.memo.get(uri);
    if (!p) {
      p = this.lookup(uri);
      this.memo.set(uri, p);
    }
    return p;
  }

  async resolveAll(
    uris: readonly string[],
    concurrency = 16,
  ): Promise<Map<string, UriDigest | { error: string }>> {
    const digests = await mapLimit(uris, concurrency, (uri) => this.resolve(uri));
    return new Map(uris.map((uri, i) => [uri, digests[i]!]));
  }

  private async lookup(uri: string): Promise<UriDigest | { error: string }> {
    try {
      const ref = parseImageRef(uri);
      const signal = AbortSignal.timeout(this.timeoutMs);
      this.heads++;
      const head = await this.registry.headManifest(ref, signal);
      if (!isIndexType(head.mediaType)) return { digest: head.digest };
      let manifests = this.indexCache.get(head.digest);
      if (!manifests) {
        this.indexGets++;
        const index = await this.registry.getManifest(ref, head.digest, signal);
        const body = JSON.parse(index.body.toString("utf8")) as { manifests?: Array<{ digest?: unknown }> };
        manifests = (body.manifests ?? [])
          .map((m) => m.digest)
          .filter((d): d is string => typeof d === "string");
        if (this.indexCache.size > 10_000) this.indexCache.clear();
        this.indexCache.set(head.digest, manifests);
      }
      return { digest: head.digest, manifests };
    } catch (e) {
      return { error: errorMessage(e) };
    }
  }
}
