import type { CommandSpec, Layer } from "./commands.js";
import { parseKeySpec } from "./keys.js";
import type { CommandId, ViewId } from "./registry.js";

/** User overrides as written in config: command id → one key or several. */
export type KeyOverrides = Record<string, string | readonly string[]>;

export class KeymapError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid key bindings:\n  ${problems.join("\n  ")}`);
    this.name = "KeymapError";
  }
}

/** What a keymap is built from: src/views/registry.ts joins the app's and every view's commands. */
export interface KeymapSource {
  /** Every command, in the order help lists them. */
  commands: Readonly<Record<string, CommandSpec>>;
  /** How help names a view in its "where" column. */
  viewTitle(view: string): string;
  /** True when this intent opens a confirm dialog before anything is sent. */
  confirms(intent: string): boolean;
}

export interface Keymap {
  readonly readOnly: boolean;
  readonly source: KeymapSource;
  /** Every command id, in the order help lists them. */
  readonly ids: readonly CommandId[];
  spec(id: CommandId): CommandSpec;
  /** The keys bound to a command (after overrides). */
  keysOf(id: CommandId): readonly string[];
  /** The command a key triggers in a layer and view, or null. Read-only never hides a command here. */
  resolve(layer: Layer, key: string, view: ViewId): CommandId | null;
  /** True when `--read-only` disables this command. */
  disabled(id: CommandId): boolean;
  /** Commands that act in `view` (global layer), in keymap order. */
  commandsIn(view: ViewId): CommandId[];
}

function overlaps(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (!a || !b) return true;
  return a.some((v) => b.includes(v));
}

/**
 * Build the keymap from the defaults of `source` and user overrides. Every problem (unknown
 * command, a key we cannot receive, two commands on one key where both act) is collected and
 * thrown together.
 */
export function createKeymap(
  source: KeymapSource,
  overrides: KeyOverrides = {},
  opts: { readOnly?: boolean } = {},
): Keymap {
  const specs = source.commands as Readonly<Record<CommandId, CommandSpec>>;
  const allIds = Object.keys(specs) as CommandId[];
  const isCommandId = (s: string): s is CommandId => Object.hasOwn(specs, s);
  const problems: string[] = [];
  const bindings = new Map<CommandId, string[]>();
  for (const id of allIds) bindings.set(id, [...specs[id].keys]);

  for (const [id, raw] of Object.entries(overrides)) {
    if (!isCommandId(id)) {
      problems.push(`unknown command "${id}" (see docs/keys.md for the list)`);
      continue;
    }
    const list = typeof raw === "string" ? [raw] : [...raw];
    if (list.length === 0) {
      problems.push(`${id}: give at least one key`);
      continue;
    }
    const keys: string[] = [];
    for (const k of list) {
      const parsed = parseKeySpec(k);
      if (parsed === null) problems.push(`${id}: "${k}" is not a key the dashboard can receive`);
      else keys.push(parsed);
    }
    bindings.set(id, keys);
  }

  const ids = [...bindings.keys()];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const a = ids[i]!;
      const b = ids[j]!;
      const sa = specs[a];
      const sb = specs[b];
      if (sa.layer !== sb.layer) continue;
      if (!overlaps(sa.views, sb.views)) continue;
      for (const k of bindings.get(a)!) {
        if (bindings.get(b)!.includes(k)) problems.push(`key "${k}" is bound to both ${a} and ${b}`);
      }
    }
  }
  if (problems.length > 0) throw new KeymapError(problems);

  const readOnly = opts.readOnly ?? false;
  const index = new Map<string, CommandId[]>();
  for (const [id, keys] of bindings) {
    for (const k of keys) {
      const slot = `${specs[id].layer}\u0000${k}`;
      index.set(slot, [...(index.get(slot) ?? []), id]);
    }
  }
  const actsIn = (id: CommandId, view: ViewId) => specs[id].views?.includes(view) ?? true;

  return {
    readOnly,
    source,
    ids: allIds,
    spec: (id) => specs[id],
    keysOf: (id) => bindings.get(id) ?? [],
    resolve(layer, key, view) {
      return index.get(`${layer}\u0000${key}`)?.find((id) => actsIn(id, view)) ?? null;
    },
    disabled: (id) => readOnly && (specs[id].sends?.length ?? 0) > 0,
    commandsIn: (view) => allIds.filter((id) => specs[id].layer === "global" && actsIn(id, view)),
  };
}

const KEY_LABELS: Record<string, string> = { up: "↑", down: "↓", left: "←", right: "→" };

/** How a key is written in the footer and help: `j`, `↑`, `ctrl+c`, `enter`. */
export function keyLabel(k: string): string {
  return KEY_LABELS[k] ?? k;
}
