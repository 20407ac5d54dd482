import { nearest, UsageError } from "./args.js";
import { commands } from "./commands.js";
import { VERSION } from "./version.js";

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `backplane ${VERSION} — manage inference backends across a GPU cluster

Usage: backplane [command] [flags]

Commands:
${lines.join("\n")}

Run 'backplane <command> --help' for a command's flags and examples.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-v" || first === "version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (first === "__complete") {
    const { complete } = await import("./completion.js");
    for (const c of await complete(rest)) process.stdout.write(`${c}\n`);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(usage());
    return 0;
  }
  const name = first === undefined || first.startsWith("-") ? "dash" : first;
  const args = name === first ? rest : argv;
  const cmd = commands[name];
  if (!cmd) {
    const near = nearest(name, Object.keys(commands));
    process.stderr.write(
      `backplane: unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ""}\n\n${usage()}`,
    );
    return 2;
  }
  try {
    return await (await cmd.load()).run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`backplane ${name}: ${e.message}\nRun 'backplane ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`backplane ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    // An error may carry the exit code it means (130: interrupted by Ctrl-C).
    const code = (e as { exitCode?: unknown } | null)?.exitCode;
    return typeof code === "number" ? code : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
