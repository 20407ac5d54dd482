/**
 * agent-kill: kill -9 the agent during upgrades, at a random moment, aimed at each step the op
 * record names (downloading, extracting, activating), and repeatedly on the same op. After every
 * kill the backends dir is read the way LocalAI reads it: the backend must be there, whole, at the
 * old or the new version (never half). After the restart every op must end (succeeded, or failed
 * with a reason and a whole version live), and leave no staging, trash or extra generations.
 */
import { createHash, randomBytes } from "node:crypto";
import { access, constants, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { isTerminal, opKey, type OpRecord, type Phase } from "../../src/protocol/index.js";
import { opRecord, submit } from "../../test/agent/helpers.js";
import { localaiList } from "../../test/agent/localai.js";
import { NatsServer } from "../../test/harness/nats-server.js";
import { pushBackendImage } from "../../test/harness/oci-image.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import { Registry } from "../../test/harness/registry.js";
import type { Scenario, ScenarioOptions, ScenarioResult } from "../lib/outcome.js";
import { connectClient, pick, Procs, sleep, waitFor, type Spawned } from "../lib/procs.js";

type Aim = "random" | Extract<Phase, "downloading" | "extracting" | "activating"> | "repeated";
const AIMS: Aim[] = ["random", "downloading", "extracting", "activating", "repeated"];
/** The agent's MAX_WORK_ATTEMPTS: an op killed this often is given up. */
const REPEAT_KILLS = 3;
const PAYLOAD = 1_500_000;
const NAME = "llm";
const NODE = "k1";
/** An op that has not ended this long after its last kill is stuck. */
const END_BOUND_MS = 90_000;

interface Version {
  n: number;
  digest: string;
  files: Record<string, Buffer>;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Which known version LocalAI sees live, whole; null for anything else (missing, partial, mixed). */
async function liveVersion(root: string, versions: Map<string, Version>): Promise<Version | null> {
  let seen;
  try {
    seen = (await localaiList(root))[NAME];
  } catch {
    return null; // a metadata.json that does not parse fails LocalAI's whole listing
  }
  if (!seen || seen.isMeta) return null;
  const v = seen.metadata.digest ? versions.get(seen.metadata.digest) : undefined;
  if (!v) return null;
  const dir = join(root, NAME);
  for (const [f, want] of Object.entries(v.files)) {
    const got = await readFile(join(dir, f)).catch(() => null);
    if (!got || sha(got) !== sha(want)) return null;
  }
  const runnable = await access(join(dir, "run.sh"), constants.X_OK).then(
    () => true,
    () => false,
  );
  return runnable ? v : null;
}

/** What an op left behind once it ended: staging or trash entries, generations beyond the kept ones. */
async function debris(root: string, keep: number): Promise<string[]> {
  const out: string[] = [];
  for (const d of [".staging", ".trash"]) {
    const left = await readdir(join(root, d)).catch(() => []);
    if (left.length) out.push(`${d}: ${left.join(", ")}`);
  }
  const gens = await readdir(join(root, ".generations", NAME)).catch(() => []);
  if (gens.length > keep + 1) out.push(`${gens.length} generations (live + ${keep} kept allowed)`);
  return out;
}

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const rounds = o.rounds ?? (o.smoke ? 1 : 10);
  const aims: Aim[] = o.smoke
    ? ["downloading"]
    : Array.from({ length: rounds }, (_, i) => AIMS[i % AIMS.length]!);
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [nats, registry, dir] = await Promise.all([
    NatsServer.start(),
    Registry.start(),
    tempDir("chaos-kill"),
  ]);
  let client: ClusterClient | undefined;
  const keep = 2;
  const root = join(dir, NODE);
  const agentArgs = ["--rate-limit", "1M", "--keep-generations", String(keep)];
  const counts = {
    kills: 0,
    byAim: new Map<string, number>(),
    missed: 0,
    oldIntact: 0,
    newIntact: 0,
    half: 0,
    succeeded: 0,
    afterRetry: 0,
    recognisedDone: 0,
    failedClearly: 0,
    failedUnclear: 0,
    stuck: 0,
    debrisOps: 0,
    finished: 0,
  };
  const notes: string[] = [];
  try {
    client = await connectClient([nats.url]);
    const versions = new Map<string, Version>();
    let next = 1;
    const push = async (): Promise<Version> => {
      const n = next++;
      const files = {
        "run.sh": Buffer.from(`#!/bin/sh\necho v${n}\n`),
        "version.txt": Buffer.from(String(n)),
        "payload.bin": randomBytes(PAYLOAD),
      };
      const { ref, digest } = await pushBackendImage(registry, `chaos/${NAME}`, String(n), {
        runSh: files["run.sh"].toString(),
        files: { "version.txt": files["version.txt"], "payload.bin": files["payload.bin"] },
      });
      const v = { n, digest, files };
      versions.set(digest, v);
      refs.set(n, ref);
      return v;
    };
    const refs = new Map<number, string>();
    let agent: Spawned = await procs.agent({
      nodeId: NODE,
      servers: [nats.url],
      backendsDir: root,
      extra: agentArgs,
    });
    const first = await push();
    const firstOp = await submit(client, {
      nodeId: NODE,
      kind: "install",
      backend: NAME,
      target: { uri: refs.get(first.n)! },
    });
    await waitEnd(client, firstOp);
    let live = first;

    for (const aim of aims) {
      const target = await push();
      const opId = await submit(client, {
        nodeId: NODE,
        kind: "upgrade",
        backend: NAME,
        target: { uri: refs.get(target.n)! },
      });
      const kills = aim === "repeated" ? REPEAT_KILLS : 1;
      for (let k = 0; k < kills; k++) {
        const attempt = k + 1;
        const hit = await killAt(client, opId, attempt, aim === "repeated" ? "random" : aim, agent, procs);
        if (!hit) {
          counts.missed++;
          log(`agent-kill: ${aim}: the op ended before the aimed step (no kill)`);
          break;
        }
        counts.kills++;
        counts.byAim.set(aim, (counts.byAim.get(aim) ?? 0) + 1);
        const seen = await liveVersion(root, versions);
        if (seen === null) counts.half++;
        else if (seen.n === target.n) counts.newIntact++;
        else if (seen.n === live.n) counts.oldIntact++;
        else counts.half++; // some other version: not what was live nor what was asked for
        log(`agent-kill: ${aim} kill ${k + 1}: live ${seen ? `v${seen.n}` : "HALF"}`);
        agent = await procs.agent({ nodeId: NODE, servers: [nats.url], backendsDir: root, extra: agentArgs });
      }
      const end = await waitEnd(client, opId);
      if (!end) {
        counts.stuck++;
        notes.push(`op ${opId} (${aim}) did not end within ${END_BOUND_MS / 1000} s`);
        continue;
      }
      counts.finished++;
      const seen = await liveVersion(root, versions);
      if (end.state === "succeeded") {
        counts.succeeded++;
        if (end.attempts > 1) counts.afterRetry++;
        if (end.result?.noop) counts.recognisedDone++;
        if (seen?.n !== target.n) {
          counts.half++;
          notes.push(`op ${opId} succeeded but LocalAI sees ${seen ? `v${seen.n}` : "no whole version"}`);
        }
      } else if (end.error && seen) {
        counts.failedClearly++;
        notes.push(`failed clearly (${aim}): "${end.error}", v${seen.n} live`);
      } else {
        counts.failedUnclear++;
        notes.push(
          `op ${opId} ended ${end.state} (${end.error ?? "no reason"}), live: ${seen ? `v${seen.n}` : "none"}`,
        );
      }
      if (seen) live = seen;
      const left = await debris(root, keep);
      if (left.length) {
        counts.debrisOps++;
        notes.push(`debris after ${aim}: ${left.join("; ")}`);
      }
    }
  } finally {
    await procs.stopAll();
    await client?.close();
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(dir);
  }
  const aimed = [...counts.byAim].map(([a, n]) => `${a} ${n}`).join(", ");
  return {
    name: "agent-kill",
    title: "agent kill -9 during upgrades",
    rows: [
      [
        "kills",
        `${counts.kills} (${aimed}${counts.missed ? `; ${counts.missed} aims missed: op ended first` : ""})`,
      ],
      ["old version live and intact", counts.oldIntact],
      ["new version live and intact", counts.newIntact],
      ["half states", counts.half],
      [
        "ops succeeded",
        `${counts.succeeded}/${aims.length} (${counts.afterRetry} after a retry, ${counts.recognisedDone} recognised as already done)`,
      ],
      ["ops failed clearly", counts.failedClearly],
      ["ops failed without a reason or a whole version", counts.failedUnclear],
      ["ops stuck", counts.stuck],
      ["debris", `${counts.debrisOps} in ${counts.finished} finished ops`],
    ],
    summary:
      `agent kill -9 during installs, ${counts.kills} kills (${aimed}): ${counts.oldIntact} old version live and intact, ` +
      `${counts.newIntact} new version live and intact, ${counts.half} half states; ${counts.succeeded} ops succeeded ` +
      `(${counts.afterRetry} after a retry, ${counts.recognisedDone} recognised as already done), ${counts.failedClearly} failed clearly, ` +
      `${counts.stuck} stuck, ${counts.debrisOps} debris in ${counts.finished} finished ops`,
    invariants: { half: counts.half, stuck: counts.stuck + counts.failedUnclear, lost: 0 },
    notes,
  };
}

/** The op's end, or null when it has not ended within END_BOUND_MS. */
async function waitEnd(client: ClusterClient, opId: string): Promise<OpRecord | null> {
  return waitFor(
    `op ${opId} to end`,
    async () => {
      const r = await opRecord(client, NODE, opId);
      return r && isTerminal(r.state) ? r : null;
    },
    END_BOUND_MS,
    50,
  ).catch(() => null);
}

/**
 * Kill the agent once attempt `attempt` of the op is at `aim` (or, for "random", after a random
 * part of the time a download takes); false when the op ended (or moved on) without that moment.
 */
async function killAt(
  client: ClusterClient,
  opId: string,
  attempt: number,
  aim: Exclude<Aim, "repeated">,
  agent: Spawned,
  procs: Procs,
): Promise<boolean> {
  const key = opKey(NODE, opId);
  let resolve!: (hit: boolean) => void;
  const decided = new Promise<boolean>((r) => (resolve = r));
  const w = client.watch("ops", (e) => {
    if (e.type !== "put" || e.key !== key) return;
    const r = e.value;
    if (isTerminal(r.state)) return resolve(false);
    if (r.state !== "running" || r.attempts !== attempt) return;
    if (aim === "random") resolve(true);
    else if (r.phase === aim) resolve(true);
  });
  try {
    const hit = await Promise.race([decided, sleep(END_BOUND_MS).then(() => false)]);
    if (!hit) return false;
    // 1 MB/s over 1.5 MB: anywhere in the download, or just past it.
    if (aim === "random") await sleep(pick([0, 100, 300, 600, 900, 1200, 1500, 1700]));
    // Across the commit window: the rename, metadata, the collection of old generations, the final write.
    if (aim === "activating") await sleep(pick([0, 2, 5, 10, 20, 40]));
    await procs.kill9(agent);
    return true;
  } finally {
    w.stop();
  }
}

export const agentKill: Scenario = {
  name: "agent-kill",
  proves:
    "an agent killed at any step of an upgrade leaves the old or the new version live and whole for LocalAI, " +
    "its restart finishes or clearly fails the op, and nothing is left behind",
  run,
};
