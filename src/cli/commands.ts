/** What a command module exports: `run`, and for completion its flags or its subcommands. */
export interface CommandModule {
  run(argv: string[]): Promise<number>;
  flags?: Record<string, { type: "string" | "boolean" }>;
  subcommands?: Record<string, { flags?: Record<string, { type: "string" | "boolean" }> }>;
}

/** Each command group lives in its own module, loaded only when used (Ink only for the dashboard). */
export const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  dash: { summary: "open the terminal dashboard (default)", load: () => import("./dash.js") },
  agent: { summary: "run the worker agent on this node", load: () => import("./agent.js") },
  controller: { summary: "run a controller replica", load: () => import("./controller.js") },
  demo: { summary: "run a whole local cluster and open the dashboard", load: () => import("./demo.js") },
  backends: {
    summary: "list, install, upgrade, reinstall, delete, roll back, pin, unpin backends; check for upgrades",
    load: () => import("./backends.js"),
  },
  nodes: { summary: "list, drain, resume, approve, hold, unhold nodes", load: () => import("./nodes.js") },
  ops: {
    summary: "list, watch, cancel, dismiss, retry operations; their history",
    load: () => import("./ops.js"),
  },
  rollouts: {
    summary:
      "plan, start, list, get, watch, pause, resume, promote, abort, dismiss rollouts (upgrades in waves)",
    load: () => import("./rollouts.js"),
  },
  settings: {
    summary: "get or set cluster settings (auto-upgrade, check interval, rollout defaults, window)",
    load: () => import("./settings.js"),
  },
  gallery: { summary: "list, show and resolve gallery entries", load: () => import("./gallery.js") },
  publish: {
    summary: "build a backend directory into an OCI image and push it",
    load: () => import("./publish.js"),
  },
  completion: {
    summary: "print a shell completion script (bash, zsh, fish)",
    load: () => import("./completion.js"),
  },
};
