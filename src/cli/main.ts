import { nearest, UsageError } from "./args.js";
import { VERSION } from "./version.js";

type CommandModule = { run(argv: string[]): Promise<number> };

/** Each command group lives in its own module, loaded only when used (Ink only for the dashboard). */
const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  dash: { summary: "open the terminal dashboard (default)", load: () => import("./dash.js") },
  agent: { summary: "run the worker agent on this node", load: () => import("./agent.js") },
  controller: { summary: "run a controller replica", load: () => import("./controller.js") },
  demo: { summary: "run a whole local cluster and open the dashboard", load: () => import("./demo.js") },
  backends: {
    summary: "list, install, upgrade, reinstall, delete, roll back backends",
    load: () => import("./backends.js"),
  },
  nodes: { summary: "list, drain, resume, approve nodes", load: () => import("./nodes.js") },
  ops: { summary: "list, watch, cancel, dismiss, retry operations", load: () => import("./ops.js") },
  settings: {
    summary: "get or set cluster settings (auto-upgrade, check interval)",
    load: () => import("./settings.js"),
  },
  gallery: { summary: "list, show and resolve gallery entries", load: () => import("./gallery.js") },
  publish: {
    summary: "build a backend directory into an OCI image and push it",
    load: () => import("./publish.js"),
  },
};

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
