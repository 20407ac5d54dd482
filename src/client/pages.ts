import type { ApiRequest, ApiResult } from "../protocol/index.js";
import type { ClusterClient } from "./cluster-client.js";

type Cursor = string | number;

/**
 * Every row of a paged list: asks for page after page, each `after` the previous one's `next`,
 * until a page has none, and folds them into one reply (`merge`) without `next`. The pages are
 * read one after another, not at one instant: a row written meanwhile may or may not be in it.
 */
export async function collectPages<R extends { next?: C; total: number }, C extends Cursor>(
  fetch: (after: C | undefined) => Promise<R>,
  merge: (all: R, page: R) => R,
): Promise<Omit<R, "next">> {
  let all = await fetch(undefined);
  let next = all.next;
  while (next !== undefined) {
    const page = await fetch(next);
    if (page.next !== undefined && page.next <= next) {
      throw new Error(`a paged list went backwards (after ${String(next)} came ${String(page.next)})`);
    }
    next = page.next;
    all = merge(all, page);
  }
  const { next: _last, ...whole } = all;
  return whole;
}

/** What a reply keeps of the last page: the total as it was then. */
const latest = <R extends { total: number }>(page: R) => ({ total: page.total });

/** Every node (`nodes.list`, page after page); `timeoutMs` is per page. */
export function listAllNodes(
  client: ClusterClient,
  timeoutMs?: number,
): Promise<Omit<ApiResult<"nodes.list">, "next">> {
  return collectPages(
    (after: string | undefined) => client.call("nodes.list", after === undefined ? {} : { after }, timeoutMs),
    (all, page) => ({
      nodes: [...all.nodes, ...page.nodes],
      unreadable: [...all.unreadable, ...page.unreadable],
      holds: [...all.holds, ...page.holds],
      ...latest(page),
    }),
  );
}

/** Every op `ops.list` matches (page after page). */
export function listAllOps(
  client: ClusterClient,
  req: Omit<ApiRequest<"ops.list">, "after" | "limit">,
): Promise<Omit<ApiResult<"ops.list">, "next">> {
  return collectPages(
    (after: string | undefined) => client.call("ops.list", after === undefined ? req : { ...req, after }),
    (all, page) => ({ ops: [...all.ops, ...page.ops], ...latest(page) }),
  );
}

/** A rollout with every one of its nodes (`rollouts.get`, page after page). */
export function getRolloutWithNodes(
  client: ClusterClient,
  id: string,
): Promise<Omit<ApiResult<"rollouts.get">, "next">> {
  return collectPages(
    (after: number | undefined) => client.call("rollouts.get", after === undefined ? { id } : { id, after }),
    // The rollout as the last page read it.
    (all, page) => ({ rollout: page.rollout, nodes: [...all.nodes, ...page.nodes], ...latest(page) }),
  );
}
