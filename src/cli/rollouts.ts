import { getRolloutWithNodes, type ClusterClient } from "../client/index.js";
import {
  describeStrategy,
  parseStrategy,
  rolloutEnded,
  type Rollout,
  type RolloutNode,
  type RolloutPlanView,
} from "../protocol/rollout.js";
import { list, str, UsageError, type Parsed } from "./args.js";
import { age, duration, localTime, shortDigest } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";
import { selectorFlag, selectorOf } from "./targets.js";

const strategyFlags = {
  node: { type: "string", multiple: true },
  ...selectorFlag,
  waves: { type: "string" },
  "max-parallel": { type: "string" },
  soak: { type: "string" },
  "max-failures": { type: "string" },
} as const;

const startFlags = {
  ...strategyFlags,
  "no-auto-promote": { type: "boolean" },
  "auto-revert": { type: "boolean" },
  wait: { type: "boolean" },
} as const;

/** What `rollouts plan` and `rollouts start` send, from the flags; bad values are usage errors before connecting. */
export interface RolloutFlags {
  nodes?: string[];
  selector?: string;
  waves?: string;
  maxParallel?: string;
  soak?: string;
  maxFailures?: string;
  autoPromote?: boolean;
  autoRevert?: boolean;
}

export function rolloutFlags(p: Parsed): RolloutFlags {
  const nodes = list(p.values.node);
  const selector = selectorOf(p);
  const input = {
    waves: str(p.values.waves),
    maxParallel: str(p.values["max-parallel"]),
    soak: str(p.values.soak),
    maxFailures: str(p.values["max-failures"]),
    autoPromote: p.values["no-auto-promote"] === true ? false : undefined,
    autoRevert: p.values["auto-revert"] === true ? true : undefined,
  };
  const checked = parseStrategy(input);
  if (!checked.ok) {
    const flag = { waves: "waves", maxParallel: "max-parallel", soak: "soak", maxFailures: "max-failures" };
    throw new UsageError(`--${flag[checked.field as keyof typeof flag] ?? checked.field} ${checked.error}`);
  }
  const out: RolloutFlags = {};
  if (nodes.length > 0) out.nodes = nodes;
  if (selector) out.selector = selector.source;
  for (const [k, v] of Object.entries(input)) if (v !== undefined) Object.assign(out, { [k]: v });
  return out;
}

const fromTo = (x: { version?: string; digest?: string }) => x.version ?? shortDigest(x.digest) ?? "";

function printPlan(plan: RolloutPlanView): void {
  const target = plan.galleryVersion ? ` → ${plan.galleryVersion}` : "";
  process.stdout.write(`rollout plan: ${plan.backend}${target} (${describeStrategy(plan.strategy)})\n`);
  const rows = plan.waves.flatMap((wave, w) =>
    wave.map((m) => [String(w + 1), m.nodeId, m.concrete, fromTo(m.from), fromTo(m.to)]),
  );
  printTable(["WAVE", "NODE", "BUILD", "FROM", "TO"], rows, "no node would move");
  if (plan.skipped.length > 0) {
    process.stdout.write("\n");
    printTable(
      ["SKIPPED", "WHY", "DETAIL"],
      plan.skipped.map((s) => [s.nodeId, s.skip, s.why]),
    );
  }
  if (plan.truncated) {
    // The controller lists the first nodes of each wave only: say what the whole plan holds.
    const waves = plan.waveSizes.map((n, w) => `wave ${w + 1}: ${n}`).join(", ");
    const skipped = plan.skippedBy.map((s) => `${s.nodes} ${s.skip}`).join(", ");
    process.stdout.write(
      `\nlisted above: the first nodes only. In all: ${waves}` +
        (plan.skippedCount > 0 ? `; ${plan.skippedCount} skipped (${skipped})` : "") +
        "\n",
    );
  }
}

/** `wave 2/4 · 3 done, 1 running, 0 failed, 4 waiting of 8`. */
function progress(r: Rollout): string {
  const c = r.counts;
  const wave =
    r.waves.length > 0 ? `wave ${Math.min(r.wave + 1, r.waves.length)}/${r.waves.length}` : "no waves";
  if (!c) return wave;
  const parts = [`${c.done} done`, `${c.running} running`, `${c.failed} failed`, `${c.waiting} waiting`];
  if (c.reverted > 0) parts.push(`${c.reverted} reverted`);
  return `${wave} · ${parts.join(", ")} of ${r.eligible}`;
}

/** One progress line for a rollout, without the time: what `watch` and `start --wait` print when it changes. */
export function rolloutLine(r: Rollout): string {
  return `${r.id} ${r.backend} ${r.state} ${progress(r)}${r.reason ? ` · ${r.reason}` : ""}`;
}

function printRollout(r: Rollout, nodes: readonly RolloutNode[]): void {
  const now = Date.now();
  const kv: Array<[string, string]> = [
    ["id", r.id],
    ["backend", r.backend + (r.galleryVersion ? ` → ${r.galleryVersion}` : "")],
    ["state", r.state + (r.dismissed ? " (dismissed)" : "")],
    ["progress", progress(r)],
    ["strategy", describeStrategy(r.strategy)],
    ["targeting", r.targeting.kind + (r.targeting.selector ? ` ${r.targeting.selector}` : "")],
    ["created", `${localTime(r.createdAt)} by ${r.createdBy}`],
    ...(r.endedAt
      ? ([["ended", `${localTime(r.endedAt)} (took ${duration((r.endedAt - r.createdAt) / 1000)})`]] as Array<
          [string, string]
        >)
      : []),
    ...(r.reason ? ([["reason", r.reason]] as Array<[string, string]>) : []),
  ];
  if (r.soakStartedAt && !rolloutEnded(r.state))
    kv.push(["soak", `${age(r.soakStartedAt, now)} of ${duration(r.strategy.soakMs / 1000)}`]);
  for (const [k, v] of kv) process.stdout.write(`${k.padEnd(10)}${v}\n`);
  for (const pause of r.pauses.slice(-3))
    process.stdout.write(`${"paused".padEnd(10)}${localTime(pause.at)} by ${pause.by}: ${pause.reason}\n`);
  process.stdout.write("\n");
  printTable(
    ["NODE", "WAVE", "OUTCOME", "BUILD", "FROM", "WHY"],
    [...nodes]
      .sort((a, b) => a.i - b.i)
      .map((n) => [
        n.node,
        n.w < 0 ? "-" : String(n.w + 1),
        n.o,
        n.c ?? "",
        n.fromVersion ?? shortDigest(n.fromDigest) ?? "",
        n.why ?? n.skip ?? "",
      ]),
    "no nodes",
  );
}

const POLL_MS = 500;

/** Ctrl-C while following a rollout: the rollout itself keeps running. */
class RolloutWaitInterrupted extends Error {
  readonly exitCode = 130;
  constructor(id: string) {
    super(
      `interrupted: rollout ${id} keeps running; to stop it:\n` +
        `  backplane rollouts pause ${id}   # ops in flight finish\n` +
        `  backplane rollouts abort ${id}   # and revert the nodes it moved`,
    );
  }
}

/**
 * Follow a rollout until it ends, calling `changed` whenever its state, wave or counts change
 * (its line differs). Polls `rollouts.get`, which survives reconnects and controller failovers
 * without extra machinery. Ctrl-C rejects with RolloutWaitInterrupted.
 */
async function follow(
  client: ClusterClient,
  id: string,
  changed: (r: Rollout, line: string) => void,
): Promise<Rollout> {
  let interrupt = () => {};
  const interrupted = new Promise<"interrupted">((resolve) => (interrupt = () => resolve("interrupted")));
  process.once("SIGINT", interrupt);
  let timer: NodeJS.Timeout | undefined;
  try {
    let last = "";
    for (;;) {
      // The rollout alone (limit 0): its state and counts, not its thousands of node rows.
      const got = await Promise.race([client.call("rollouts.get", { id, limit: 0 }), interrupted]);
      if (got === "interrupted") throw new RolloutWaitInterrupted(id);
      const line = rolloutLine(got.rollout);
      if (line !== last) changed(got.rollout, line);
      last = line;
      if (rolloutEnded(got.rollout.state)) return got.rollout;
      const slept = await Promise.race([
        new Promise<"slept">((resolve) => (timer = setTimeout(() => resolve("slept"), POLL_MS))),
        interrupted,
      ]);
      if (slept === "interrupted") throw new RolloutWaitInterrupted(id);
    }
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", interrupt);
  }
}

const print = (l: string) => process.stdout.write(l + "\n");
/** Timestamped progress lines on stdout. */
const stamped = (_: Rollout, line: string) => print(`${localTime(Date.now())} ${line}`);
const exitFor = (r: Rollout) => (r.state === "succeeded" ? 0 : 1);

function needId(verb: string, id: string | undefined): string {
  if (!id)
    throw new UsageError(`backplane rollouts ${verb} needs a rollout ID (see 'backplane rollouts list')`);
  return id;
}

function action(verb: "pause" | "resume" | "promote" | "abort" | "dismiss", what: string): Subcommand {
  return {
    usage: `backplane rollouts ${verb} ID${verb === "pause" ? " [--reason TEXT]" : ""} [--json]   ${what}`,
    flags: verb === "pause" ? { reason: { type: "string" } } : {},
    async run(p, [arg]) {
      const id = needId(verb, arg);
      const reason = str(p.values.reason);
      return withSession(p, async (client) => {
        const res = await client.call(`rollouts.${verb}`, {
          id,
          actor: actor(),
          ...(reason ? { reason } : {}),
        });
        if (p.values.json) printJson(res);
        else print(rolloutLine(res.rollout));
        return 0;
      });
    },
  };
}

export const subcommands: Record<string, Subcommand> = {
  plan: {
    usage:
      "backplane rollouts plan BACKEND [--node IDS | -l SELECTOR] [--waves W] [--max-parallel N] [--soak D] [--max-failures N] [--json]   what a rollout would do, changing nothing\n\nWithout --node or -l it targets every node that has BACKEND. Waves are cumulative counts or\npercentages of the targeted nodes (default 1,10%,50%,100%); --max-parallel caps active ops\n(default 10%, at least 1); --soak is how long a finished wave must stay healthy (default 60s);\n--max-failures is the failure budget (default 0 in the first wave, 10% after). A flag not given\ntakes the cluster's default from 'settings set' when one is set (see 'settings get'); the\ndefaults above are the built-in ones.\n\nExample:\n  backplane rollouts plan llama-cpp -l gpu=h100 --waves 1,50%,100%",
    flags: strategyFlags,
    async run(p, [backend]) {
      if (!backend) throw new UsageError("backplane rollouts plan needs a BACKEND");
      const req = rolloutFlags(p);
      return withSession(p, async (client) => {
        const res = await client.call("rollouts.plan", { backend, ...req, actor: actor() });
        if (p.values.json) printJson(res);
        else printPlan(res.plan);
        return 0;
      });
    },
  },
  start: {
    usage:
      "backplane rollouts start BACKEND [--node IDS | -l SELECTOR] [--waves W] [--max-parallel N] [--soak D] [--max-failures N] [--no-auto-promote] [--auto-revert] [--wait] [--json]   start a rollout\n\n--json prints the rollout record (its `id` is the rollout id); with --wait, the record as it\nended. --wait blocks until the rollout ends, printing a line per wave or state change, and exits\n0 only when it succeeded. --no-auto-promote pauses after every wave until 'rollouts promote';\n--auto-revert aborts and reverts when the failure budget is exceeded (instead of pausing).\nStrategy flags not given take the cluster's defaults from 'settings set' when set, else the\nbuilt-in ones 'rollouts plan --help' lists.\n\nExample:\n  backplane rollouts start llama-cpp --waves 1,25%,100% --soak 2m --wait",
    flags: startFlags,
    async run(p, [backend]) {
      if (!backend) throw new UsageError("backplane rollouts start needs a BACKEND");
      const req = rolloutFlags(p);
      return withSession(p, async (client) => {
        const { rollout } = await client.call("rollouts.start", { backend, ...req, actor: actor() });
        if (!p.values.wait) {
          if (p.values.json) printJson({ ...rollout });
          else print(`started ${rolloutLine(rollout)}`);
          return 0;
        }
        if (!p.values.json) print(`started ${rollout.id} (${describeStrategy(rollout.strategy)})`);
        const ended = await follow(client, rollout.id, p.values.json ? () => {} : stamped);
        if (p.values.json) printJson(ended);
        return exitFor(ended);
      });
    },
  },
  list: {
    usage: "backplane rollouts list [--all] [--json]   active rollouts (--all adds ended and dismissed ones)",
    flags: { all: { type: "boolean" } },
    async run(p) {
      return withSession(p, async (client) => {
        const res = await client.call("rollouts.list", { all: !!p.values.all });
        res.rollouts.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
        if (p.values.json) return (printJson(res), 0);
        const now = Date.now();
        printTable(
          ["ID", "BACKEND", "TO", "STATE", "PROGRESS", "AGE", "REASON"],
          res.rollouts.map((r) => [
            r.id,
            r.backend,
            r.galleryVersion ?? "",
            r.state + (r.dismissed ? " (dismissed)" : ""),
            progress(r),
            age(r.createdAt, now),
            r.reason ?? "",
          ]),
          p.values.all ? "no rollouts" : "no active rollouts",
        );
        return 0;
      });
    },
  },
  get: {
    usage: "backplane rollouts get ID [--json]   a rollout: state, strategy, waves and every node",
    async run(p, [arg]) {
      const id = needId("get", arg);
      return withSession(p, async (client) => {
        const res = await getRolloutWithNodes(client, id);
        if (p.values.json) return (printJson(res), 0);
        printRollout(res.rollout, res.nodes);
        return 0;
      });
    },
  },
  watch: {
    usage:
      "backplane rollouts watch ID [--json]   one line per wave or state change (no TUI) until it ends; exits 0 only for succeeded; --json prints NDJSON rollout records",
    async run(p, [arg]) {
      const id = needId("watch", arg);
      return withSession(p, async (client) => {
        const ndjson = (r: Rollout) => process.stdout.write(JSON.stringify(r) + "\n");
        return exitFor(await follow(client, id, p.values.json ? ndjson : stamped));
      });
    },
  },
  pause: action("pause", "stop admitting (ops in flight finish)"),
  resume: action("resume", "continue a paused rollout"),
  promote: action("promote", "start the next wave now, skipping the soak"),
  abort: action("abort", "cancel running ops and roll every moved node back to its previous generation"),
  dismiss: action("dismiss", "hide an ended rollout (auto-upgrade may retry its target)"),
};

export function run(argv: string[]): Promise<number> {
  return runGroup(
    "rollouts",
    "Plan, start, follow, pause, resume, promote, abort and dismiss rollouts (a backend version across the fleet in waves).",
    subcommands,
    argv,
  );
}
