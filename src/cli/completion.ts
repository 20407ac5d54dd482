import { listAllNodes, listAllOps } from "../client/index.js";
import { commands, type CommandModule } from "./commands.js";
import { connectionFlags, parse, UsageError } from "./args.js";
import { commonFlags, withSession } from "./session.js";

export const flags = { help: { type: "boolean", short: "h" } } as const;

const HELP = `Usage: backplane completion bash|zsh|fish

Print a completion script: commands, subcommands and flags, and node ids, backend names and op
ids from the cluster when it is reachable (the connection flags already typed, or BACKPLANE_SERVER).

  bash:  source <(backplane completion bash)          or save it in /etc/bash_completion.d/backplane
  zsh:   source <(backplane completion zsh)           or save it as _backplane in your $fpath
  fish:  backplane completion fish > ~/.config/fish/completions/backplane.fish
`;

const SCRIPTS: Record<string, string> = {
  bash: `# bash completion for backplane
_backplane() {
  local IFS=$'\\n'
  COMPREPLY=($(backplane __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _backplane backplane
`,
  zsh: `#compdef backplane
_backplane() {
  local -a candidates
  candidates=("\${(@f)$(backplane __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -- \${candidates:#}
}
compdef _backplane backplane
`,
  fish: `# fish completion for backplane
function __backplane_complete
  set -l tokens (commandline -opc) (commandline -ct)
  backplane __complete $tokens[2..-1] 2>/dev/null
end
complete -c backplane -f -a '(__backplane_complete)'
`,
};

export async function run(argv: string[]): Promise<number> {
  const [shell, ...extra] = argv;
  if (!shell || shell === "--help" || shell === "-h") {
    process.stdout.write(HELP);
    return shell ? 0 : 2;
  }
  const script = SCRIPTS[shell];
  if (!script || extra.length > 0) throw new UsageError(`completion takes one of bash, zsh, fish`);
  process.stdout.write(script);
  return 0;
}

type FlagSpecs = Record<string, { type: "string" | "boolean" }>;

/** Subcommands whose positional is a backend name, a node id or an op id. */
const POSITIONAL: Record<string, "backend" | "node" | "op"> = {
  "backends install": "backend",
  "backends upgrade": "backend",
  "backends reinstall": "backend",
  "backends delete": "backend",
  "backends rollback": "backend",
  "backends pin": "backend",
  "backends unpin": "backend",
  "gallery show": "backend",
  "gallery resolve": "backend",
  "nodes drain": "node",
  "nodes resume": "node",
  "nodes approve": "node",
  "nodes hold": "node",
  "nodes unhold": "node",
  "ops cancel": "op",
  "ops dismiss": "op",
  "ops retry": "op",
  "ops watch": "op",
};

/**
 * `backplane __complete WORD...`: the candidates for the last word (possibly empty), one per line.
 * Static knowledge first; names from the cluster only where a name is due, with a short timeout,
 * and nothing at all (never an error) when the cluster cannot be reached.
 */
export async function complete(words: string[]): Promise<string[]> {
  const cur = words.at(-1) ?? "";
  const done = words.slice(0, -1);
  const match = (xs: Iterable<string>) => [...new Set(xs)].filter((x) => x.startsWith(cur)).sort();
  if (done.length === 0) return match(Object.keys(commands));
  const entry = commands[done[0]!];
  if (!entry) return [];
  const mod: CommandModule = await entry.load();
  const positionals = done.slice(1).filter((w, i, all) => !w.startsWith("-") && !takesValue(all[i - 1], mod));
  const sub = mod.subcommands ? positionals[0] : undefined;
  if (mod.subcommands && sub === undefined && !cur.startsWith("-"))
    return match(Object.keys(mod.subcommands));
  const specs: FlagSpecs = mod.subcommands
    ? { ...commonFlags, ...(mod.subcommands[sub ?? ""]?.flags ?? {}) }
    : (mod.flags ?? {});
  if (cur.startsWith("-")) return match(Object.keys(specs).map((f) => `--${f}`));
  const prev = done.at(-1);
  if (prev === "--node") return match(await fromCluster(words, "node"));
  if (prev === "--backend") return match(await fromCluster(words, "backend"));
  if (prev?.startsWith("--") && specs[prev.slice(2)]?.type === "string") return [];
  const what = POSITIONAL[`${done[0]} ${sub ?? ""}`];
  const ownPositionals = positionals.length - 1; // after the subcommand
  return what && ownPositionals === 0 ? match(await fromCluster(words, what)) : [];
}

function takesValue(flag: string | undefined, mod: CommandModule): boolean {
  if (!flag?.startsWith("--")) return false;
  const name = flag.slice(2);
  const all: FlagSpecs = { ...commonFlags, ...(mod.flags ?? {}) };
  for (const s of Object.values(mod.subcommands ?? {})) Object.assign(all, s.flags ?? {});
  return all[name]?.type === "string";
}

/** Names from the cluster, reached with the connection flags already on the line. */
async function fromCluster(words: string[], what: "backend" | "node" | "op"): Promise<string[]> {
  const argv: string[] = [];
  for (let i = 0; i < words.length - 1; i++) {
    const name = words[i]!.replace(/^--/, "");
    if (words[i]!.startsWith("--") && name in connectionFlags && i + 1 < words.length - 1)
      argv.push(words[i]!, words[i + 1]!);
  }
  try {
    const p = parse([...argv, "--connect-timeout", "1s", "--timeout", "2s"], commonFlags);
    return await withSession(p, async (client) => {
      if (what === "node") return (await listAllNodes(client)).nodes.map((n) => n.id);
      if (what === "op") return (await listAllOps(client, { all: false })).ops.map((o) => o.id);
      const gallery = (await client.call("gallery.list", {})).entries.map((e) => e.name);
      const installed = (await client.list("inventory")).flatMap((e) => e.value.backends.map((b) => b.name));
      return [...gallery, ...installed];
    });
  } catch {
    return [];
  }
}
