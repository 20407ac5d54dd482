import { listAllNodes, type ClusterClient } from "../client/index.js";
import { z } from "zod";
import {
  BackendPin,
  HoldEntry,
  InstalledBackend,
  NodeId,
  findableOps,
  type ApiMethod,
  type ApiResult,
  type OpRecord,
} from "../protocol/index.js";
import { list, UsageError, type Parsed } from "./args.js";
import { holdLine, pinLine, policyLookup } from "../format/policy.js";
import { localTime, shortDigest } from "../format/units.js";
import { printJson, printTable } from "./output.js";
import { actor, runGroup, withSession, type Subcommand } from "./session.js";
import { selectorFlag, selectorOf } from "./targets.js";
import { exitCodeFor, waitForOps } from "./wait.js";

/** What `backplane backends list --json` prints. */
export const BackendsListOutput = z.object({
  backends: z.array(
    InstalledBackend.extend({
      nodeId: NodeId,
      /** The hold that keeps rollouts and unforced ops off this backend on this node. */
      held: HoldEntry.optional(),
      /** The pin that applies to this backend on this node. */
      pinned: BackendPin.optional(),
    }),
  ),
  /** Every pin, of backends installed somewhere or not. */
  pins: z.array(BackendPin),
});

type AdmitMethod = Extract<
  ApiMethod,
  "ops.install" | "ops.upgrade" | "ops.reinstall" | "ops.delete" | "ops.rollback"
>;

const targetFlags = {
  node: { type: "string", multiple: true },
  all: { type: "boolean" },
  wait: { type: "boolean" },
  progress: { type: "boolean" },
  force: { type: "boolean" },
  ...selectorFlag,
} as const;

/**
 * The nodes to name in the request. `--all` on install and rollback is every node; on upgrade,
 * reinstall and delete it is every node that has the backend, which is what the controller does
 * when no nodes are named (so nodes without it are not refusals).
 */
function targetNodes(p: Parsed, method: AdmitMethod): { nodes?: string[]; selector?: string } {
  const nodes = list(p.values.node);
  const selector = selectorOf(p);
  const explicitOnly = method === "ops.install" || method === "ops.rollback";
  if ((nodes.length > 0 || selector) && p.values.all)
    throw new UsageError("give --node, --selector or --all, not more than one");
  if (nodes.length > 0) return { nodes };
  // The controller matches a selector: a fleet-wide request names no node ids.
  if (selector) return { selector: selector.source };
  // An empty selector matches every node.
  if (p.values.all && explicitOnly) return { selector: "" };
  if (explicitOnly) throw new UsageError("say where: --node ID[,ID], -l SELECTOR or --all");
  return {};
}

/**
 * The totals of a reply too big to list every row: `upgrade llama: 20000 admitted (3 already
 * running), 3 refused; listed above: the first 1000 and 3`, and where to see the rest.
 */
export function admitSummary(name: string, verb: string, r: ApiResult<AdmitMethod>): string {
  const c = r.counts;
  const running = c.existing > 0 ? ` (${c.existing} already running)` : "";
  const refused = c.refused > 0 ? `, ${c.refused} refused` : "";
  return (
    `${verb} ${name}: ${c.admitted} admitted${running}${refused}; listed above: the first ` +
    `${r.admitted.length} admitted and ${r.refused.length} refused. The rest: ` +
    `backplane ops list --backend ${name}` +
    (r.batch ? ` (new op ids start with ${r.batch}-)` : "")
  );
}

/** The same with and without --wait: 1 when anything was refused or (waited for) did not succeed. */
function admitExitCode(refused: number, waited?: readonly OpRecord[]): number {
  return Math.max(refused > 0 ? 1 : 0, waited ? exitCodeFor(waited) : 0);
}

async function callAdmit(
  client: ClusterClient,
  method: AdmitMethod,
  req: {
    backend: string;
    nodes?: string[];
    selector?: string;
    source?: string;
    actor: string;
    generation?: string;
    force?: boolean;
  },
): Promise<ApiResult<AdmitMethod>> {
  const { nodes, selector, source, generation, force, ...withoutForce } = req;
  const rest = {
    ...withoutForce,
    ...(force ? { force } : {}),
    ...(nodes ? { nodes } : {}),
    ...(selector !== undefined ? { selector } : {}),
  };
  switch (method) {
    case "ops.install":
      if (!nodes && selector === undefined)
        throw new UsageError("say where: --node ID[,ID], -l SELECTOR or --all");
      return client.call(method, { ...rest, ...(source ? { source } : {}) });
    case "ops.rollback":
      if (!nodes && selector === undefined)
        throw new UsageError("say where: --node ID[,ID], -l SELECTOR or --all");
      return client.call(method, { ...rest, ...(generation ? { generation } : {}) });
    default:
      return client.call(method, rest);
  }
}

/**
 * `install oci://REGISTRY/REPO:TAG --name NAME`: an image no gallery lists, installed as NAME
 * (LocalAI's "install external"); any other NAME is a gallery name and takes no --name.
 */
function externalImage(
  method: AdmitMethod,
  arg: string,
  nameFlag: unknown,
): { name: string; source?: string } {
  const isImage = /^(oci|docker):\/\//.test(arg);
  if (!isImage) {
    if (nameFlag !== undefined) throw new UsageError("--name is for installing an oci:// image");
    return { name: arg };
  }
  if (method !== "ops.install")
    throw new UsageError(`only install takes an image (${arg}); name the backend`);
  if (typeof nameFlag !== "string" || !nameFlag)
    throw new UsageError(
      "installing an image no gallery lists needs --name NAME (the backend's name on the node)",
    );
  return { name: nameFlag, source: arg };
}

function admit(
  method: AdmitMethod,
  verb: string,
  nodesRequired: boolean,
  example: string,
  extra: { usage: string; flags: Subcommand["flags"] } = { usage: "", flags: {} },
): Subcommand {
  return {
    usage: `backplane backends ${verb} NAME ${nodesRequired ? "--node ID[,ID] | -l SELECTOR | --all" : "[--node ID[,ID] | -l SELECTOR | --all]"}${extra.usage} [--force] [--wait] [--progress] [--json]\n\n-l/--selector takes a label selector over the agents' --label values (gpu=h100,zone!=eu,\ntier in (a,b), key, !key), matched by the controller (upgrade, reinstall and delete: the\nmatching nodes that have NAME); no matching node is an error.\n--force also acts on held nodes (backplane nodes hold) and past a pinned version\n(backplane backends pin); without it those nodes are refused, with the reason.\n\nExample:\n  ${example}`,
    flags: { ...targetFlags, ...extra.flags },
    async run(p, [arg]) {
      if (!arg) throw new UsageError(`backplane backends ${verb} needs a backend NAME`);
      const { name, source } = externalImage(method, arg, p.values.name);
      selectorOf(p); // a malformed selector is a usage error before connecting
      const generation = p.values.generation;
      if (generation !== undefined && (typeof generation !== "string" || generation === "")) {
        throw new UsageError("--generation needs a generation id (see backends list --json: previous)");
      }
      if (method === "ops.upgrade" && p.values.all)
        process.stderr.write(
          `hint: --all upgrades every node at once; 'backplane rollouts start ${name}' moves them in waves gated by health\n`,
        );
      const where = targetNodes(p, method);
      return withSession(p, async (client) => {
        const res = await callAdmit(client, method, {
          backend: name,
          ...where,
          source,
          actor: actor(),
          generation,
          force: p.values.force === true,
        });
        if (p.values.json && !p.values.wait) printJson(res);
        else {
          for (const a of res.admitted) {
            const via = a.concrete && a.concrete !== name ? ` (${a.concrete})` : "";
            process.stderr.write(
              `${a.existing ? "already running" : "queued"}: ${a.nodeId} ${a.opId}${via}\n`,
            );
          }
          for (const r of res.refused) process.stderr.write(`refused: ${r.nodeId}: ${r.error}\n`);
          if (res.truncated) process.stderr.write(admitSummary(name, verb, res) + "\n");
        }
        if (!p.values.wait) return admitExitCode(res.counts.refused);
        const findable = findableOps(res);
        const rest =
          res.truncated && res.batch ? { prefix: `${res.batch}-`, total: findable.total } : undefined;
        if (rest && findable.unlisted > 0)
          process.stderr.write(
            `not waiting for ${findable.unlisted} ops that were already running and are not listed (backplane ops list --backend ${name})\n`,
          );
        const done = await waitForOps(client, res.admitted, { progress: !!p.values.progress, rest });
        if (p.values.json)
          printJson({ ops: done, refused: res.refused, counts: res.counts, truncated: res.truncated });
        return admitExitCode(res.counts.refused, done);
      });
    },
  };
}

const PIN_HELP = `

Rollouts and auto-upgrade never take NAME to another version than VERSION on the nodes the
selector matches (every node without one); a manual install, upgrade or reinstall that would is
refused unless given --force. One pin per backend: pinning again replaces it. Kept in the cluster
and audited until 'backplane backends unpin NAME'.

Example:
  backplane backends pin llama-cpp 1.0.0 --selector gpu=h100 --reason "1.1 leaks memory"`;

const pinCommands: Record<string, Subcommand> = {
  pin: {
    usage: `backplane backends pin NAME VERSION [--selector S] [--reason TEXT] [--json]   keep a backend at a version${PIN_HELP}`,
    flags: { selector: { type: "string", short: "l" }, reason: { type: "string" } },
    async run(p, [name, version, extra]) {
      if (!name || !version)
        throw new UsageError("backplane backends pin needs a backend NAME and a VERSION");
      if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
      const selector = typeof p.values.selector === "string" ? p.values.selector : undefined;
      const reason = typeof p.values.reason === "string" ? p.values.reason : undefined;
      return withSession(p, async (client) => {
        const res = await client.call("backends.pin", {
          backend: name,
          version,
          actor: actor(),
          ...(selector ? { selector } : {}),
          ...(reason ? { reason } : {}),
        });
        if (p.values.json) printJson(res);
        else process.stdout.write(`${res.pin.backend}: ${pinLine(res.pin)}\n`);
        return 0;
      });
    },
  },
  unpin: {
    usage: "backplane backends unpin NAME [--json]   remove a backend's pin",
    async run(p, [name]) {
      if (!name) throw new UsageError("backplane backends unpin needs a backend NAME");
      return withSession(p, async (client) => {
        const res = await client.call("backends.unpin", { backend: name, actor: actor() });
        if (p.values.json) printJson(res);
        else
          process.stdout.write(
            res.pin ? `${name}: unpinned (was ${res.pin.version})\n` : `${name}: not pinned\n`,
          );
        return 0;
      });
    },
  },
};
export const subcommands: Record<string, Subcommand> = {
  list: {
    usage: "backplane backends list [--node ID] [--json]   installed backends per node, with holds and pins",
    flags: { node: { type: "string", multiple: true } },
    async run(p) {
      return withSession(p, async (client) => {
        const only = new Set(list(p.values.node));
        if (only.size > 0) {
          const known = new Set((await listAllNodes(client)).nodes.map((n) => n.id));
          const unknown = [...only].filter((id) => !known.has(id));
          if (unknown.length > 0) throw new Error(`unknown node ${unknown.join(", ")}`);
        }
        const inventories = await client.list("inventory");
        const [policy, nodes] = await Promise.all([client.list("policy"), client.list("nodes")]);
        const covers = policyLookup(
          new Map(policy.map((r) => [r.key, r.value])),
          new Map(nodes.map((n) => [n.key, n.value])),
          new Map(inventories.map((i) => [i.key, i.value])),
        );
        const pins = policy
          .map((r) => r.value)
          .filter((r): r is BackendPin => r.kind === "pin")
          .sort((a, b) => a.backend.localeCompare(b.backend));
        const rows = inventories
          .filter((e) => only.size === 0 || only.has(e.key))
          .flatMap((e) =>
            e.value.backends.map((b) => {
              const m = covers(e.value.nodeId, b.name);
              return {
                nodeId: e.value.nodeId,
                ...b,
                ...(m?.hold ? { held: m.hold } : {}),
                ...(m?.pin ? { pinned: m.pin } : {}),
              };
            }),
          )
          .sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.name.localeCompare(b.name));
        const upgrades = new Map((await client.list("upgrade_nodes")).map((u) => [u.key, u.value]));
        if (p.values.json) return (printJson({ backends: rows, pins }), 0);
        printTable(
          ["NODE", "BACKEND", "VERSION", "DIGEST", "META FOR", "UPGRADE", "HOLD / PIN"],
          rows.map((b) => {
            const u = upgrades
              .get(b.nodeId)
              ?.rows.find((r) => r.upgradable && (r.backend === b.name || r.concrete === b.name));
            return [
              b.nodeId,
              b.name,
              b.metadata.version ?? "",
              shortDigest(b.metadata.digest),
              b.metadata.meta_backend_for ?? "",
              u ? "↑ available" : "",
              [b.held ? holdLine(b.held) : "", b.pinned ? `${b.pinned.backend} ${pinLine(b.pinned)}` : ""]
                .filter(Boolean)
                .join("; "),
            ];
          }),
          "no backends installed",
        );
        for (const pin of pins) process.stdout.write(`pin: ${pin.backend} ${pinLine(pin)}\n`);
        return 0;
      });
    },
  },
  upgrades: {
    usage: "backplane backends upgrades [--json]   upgrades the last check found",
    async run(p) {
      return withSession(p, async (client) => {
        const res = await client.call("upgrades.list", {});
        if (p.values.json) return (printJson(res), 0);
        printUpgrades(res.upgrades);
        return 0;
      });
    },
  },
  check: {
    usage:
      "backplane backends check [--json]   check the gallery for upgrades now; returns when the round is done",
    async run(p) {
      return withSession(p, async (client) => {
        const res = await client.call("upgrades.check", { actor: actor() });
        if (p.values.json) return (printJson(res), 0);
        printUpgrades(res.upgrades);
        process.stderr.write(
          `checked ${localTime(res.checkedAt)} (${res.headRequests} registry HEAD requests)\n`,
        );
        return 0;
      });
    },
  },
  install: {
    ...admit(
      "ops.install",
      "install",
      true,
      "backplane backends install llama-cpp --node gpu-01,gpu-02 --wait\n  backplane backends install oci://registry.internal:5000/backends/my-backend:1.0.0 --name my-backend --node gpu-01",
    ),
    flags: { ...targetFlags, name: { type: "string" } },
  },
  upgrade: admit("ops.upgrade", "upgrade", false, "backplane backends upgrade cuda12-llama-cpp --all --wait"),
  reinstall: admit("ops.reinstall", "reinstall", false, "backplane backends reinstall whisper --node gpu-03"),
  delete: admit("ops.delete", "delete", true, "backplane backends delete whisper --node gpu-03 --wait"),
  rollback: admit(
    "ops.rollback",
    "rollback",
    true,
    "backplane backends rollback llama-cpp --node gpu-01 --wait\n  backplane backends rollback llama-cpp --node gpu-01 --generation 20261120T100000000Z-a1b2 --wait",
    {
      usage: " [--generation G]  (a kept generation of that node; default the newest kept)",
      flags: { generation: { type: "string" } },
    },
  ),
  ...pinCommands,
};

function printUpgrades(upgrades: ApiResult<"upgrades.list">["upgrades"]): void {
  printTable(
    ["BACKEND", "INSTALLED", "AVAILABLE", "VIA", "NODES", "DRIFT"],
    upgrades.map((u) => [
      u.backend,
      u.installedVersion ?? shortDigest(u.installedDigest),
      u.availableVersion ?? shortDigest(u.availableDigest),
      u.via,
      String(u.upgradable),
      u.drifted > 0 ? String(u.drifted) : "",
    ]),
    "everything is up to date",
  );
}

export function run(argv: string[]): Promise<number> {
  return runGroup(
    "backends",
    "List, install, upgrade, reinstall, delete and roll back backends; pin and unpin versions.",
    subcommands,
    argv,
  );
}
