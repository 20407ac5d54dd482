import type { NodeRecord } from "../protocol/index.js";
import { matchesSelector, parseSelector, type Selector } from "../protocol/selector.js";
import { list, str, UsageError, type Parsed } from "./args.js";

/** `--selector` / `-l`, for every command that takes `--node`. */
export const selectorFlag = { selector: { type: "string", short: "l" } } as const;

/** The selector given with -l/--selector, parsed (a usage error when it does not parse), or undefined. */
export function selectorOf(p: Parsed): Selector | undefined {
  const source = str(p.values.selector);
  if (source === undefined) return undefined;
  const parsed = parseSelector(source);
  if (!parsed.ok) throw new UsageError(parsed.error);
  if (parsed.selector.requirements.length === 0) throw new UsageError("--selector is empty");
  if (list(p.values.node).length > 0) throw new UsageError("give --node or --selector, not both");
  return parsed.selector;
}

/** The ids of the nodes whose labels (from their last heartbeat) match, sorted; an error when none do. */
export function nodesMatching(nodes: readonly NodeRecord[], selector: Selector): string[] {
  const ids = nodes
    .filter((n) => matchesSelector(selector, n.last.labels))
    .map((n) => n.id)
    .sort();
  if (ids.length === 0) throw new Error(`no node matches the selector ${selector.source}`);
  return ids;
}
