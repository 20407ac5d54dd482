import { parseOpKey, type BucketKey, type BucketValue, type OneKeyBucket } from "../protocol/index.js";

/** A bucket the store keeps as a map: the key a record is kept under (null: ignore it). */
export interface MapSlice<B extends BucketKey> {
  storeKey(kvKey: string, value: BucketValue<B> | null): string | null;
}

/** How the store keeps bucket B: a one-record bucket as its value (or null), any other as a map. */
export type SliceSpec<B extends BucketKey> = B extends OneKeyBucket ? "value" : MapSlice<B>;

const byKvKey = { storeKey: (kvKey: string) => kvKey };

/** The dashboard's decision for every bucket of the table; a bucket left out does not compile. */
export type FeedSpecs = { readonly [B in BucketKey]: SliceSpec<B> | null };

/**
 * What the dashboard watches of each bucket in the table, and how its slice of the store keeps
 * it; null: not watched. Every bucket must be listed, so a new one does not compile until it is
 * decided here. The slice has the bucket's name.
 */
export const FEED = {
  nodes: byKvKey,
  inventory: byKvKey,
  // By op id, the name views, progress and commands use, not by `<nodeId>.<opId>`.
  ops: { storeKey: (kvKey, op) => op?.id ?? parseOpKey(kvKey)?.opId ?? null },
  upgrades: byKvKey,
  // By node id: the Backends matrix and the upgrade dialog read a node's upgradable rows.
  upgrade_nodes: byKvKey,
  settings: "value",
  checks: "value",
  rollouts: byKvKey,
  // Kept by `<rolloutId>.<nodeId>`; a rollout's detail reads the rows under its id.
  rollout_nodes: byKvKey,
  // Holds (`hold.<nodeId>`) and pins (`pin.<backend>`): glyphs in Backends and node detail.
  policy: byKvKey,
  // The controller's liveness in the header: who leads, and how long since it renewed.
  leases: byKvKey,
  requests: null,
} as const satisfies FeedSpecs;

export type FeedBucket = { [B in BucketKey]: (typeof FEED)[B] extends null ? never : B }[BucketKey];

/** The buckets the dashboard watches, in the table's order. */
export const FEED_BUCKETS: readonly FeedBucket[] = (Object.keys(FEED) as BucketKey[]).filter(
  (b): b is FeedBucket => FEED[b] !== null,
);

/** The same specs, typed per bucket for code generic over B. */
export const SLICES: { readonly [B in FeedBucket]: SliceSpec<B> } = FEED;

/** The store's slice of each watched bucket. */
export type BucketSlices = {
  [B in FeedBucket]: B extends OneKeyBucket ? BucketValue<B> | null : ReadonlyMap<string, BucketValue<B>>;
};

/** Every slice empty, as before the first batch. */
export function emptySlices(): BucketSlices {
  return Object.fromEntries(
    FEED_BUCKETS.map((b) => [b, SLICES[b] === "value" ? null : new Map()]),
  ) as unknown as BucketSlices;
}
