import type { ClusterClient } from "../client/index.js";
import type { BucketValue } from "../client/cluster-client.js";
import type { BucketRow } from "../client/bucket-read.js";
import type { BucketKey } from "../protocol/index.js";

export type Snap<T> = BucketRow<T>;

/** A one-pass read of a bucket (or a key filter); see ClusterClient.list. */
export function snapshot<B extends BucketKey>(
  client: ClusterClient,
  bucket: B,
  filter = ">",
): Promise<Array<Snap<BucketValue<B>>>> {
  return client.list(bucket, filter);
}

export function keysOf(client: ClusterClient, bucket: BucketKey, filter = ">"): Promise<string[]> {
  return client.keys(bucket, filter);
}
