import { createHash, randomBytes } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Agent, type AgentOptions } from "../../src/agent/agent.js";
import type { CapabilityProbe } from "../../src/agent/capability.js";
import { ClusterClient, WorkQueue } from "../../src/client/index.js";
import { createLogger } from "../../src/lib/log.js";
import {
  cancelOp as cancelTransition,
  isTerminal,
  newOpId,
  opKey,
  written,
  type CancelSignal,
  type InstallTarget,
  type OpKind,
  type OpRecord,
  type OpState,
} from "../../src/protocol/index.js";
import { tempDir, waitFor } from "../harness/proc.js";

/** A machine without a GPU, so tests never depend on the host they run on. */
export const noGpuProbe: CapabilityProbe = {
  platform: "linux",
  arch: "x64",
  env: () => undefined,
  readFile: async () => null,
  exists: async () => false,
  listDir: async () => [],
  run: async () => null,
  totalMemBytes: () => 8 * 1024 ** 3,
};

export async function connectClient(url: string): Promise<ClusterClient> {
  return ClusterClient.connect({ servers: [url], name: "test-controller" });
}

export interface TestAgent {
  agent: Agent;
  dir: string;
  stop(): Promise<void>;
}

export async function startAgent(
  url: string,
  o: Partial<AgentOptions> & { nodeId: string },
): Promise<TestAgent> {
  const dir = o.backendsDir ?? (await tempDir("backends"));
  const agent = new Agent({
    backendsDir: dir,
    connection: { servers: [url] },
    probe: noGpuProbe,
    fsync: false,
    heartbeatMs: 500,
    diskMarginBytes: 1024 * 1024,
    retries: 2,
    // The test backends' run.sh only echoes: the probe has its own tests (probe.test.ts).
    healthProbe: { mode: "none", timeoutMs: 60_000 },
    log: process.env.BP_TEST_LOG ? createLogger({ test: true }, { level: "debug" }) : undefined,
    ...o,
  });
  await agent.start();
  return { agent, dir, stop: () => agent.stop() };
}

export interface SubmitOptions {
  nodeId: string;
  kind: OpKind;
  backend: string;
  target?: Partial<InstallTarget> & { uri?: string };
  opId?: string;
  /** Rollback: the kept generation to go back to. */
  generation?: string;
  /** Write the record in this state instead of `queued` (e.g. `cancelling`). */
  state?: OpState;
}

/** Play the controller: write the queued op record, then publish its work item. */
export async function submit(c: ClusterClient, o: SubmitOptions): Promise<string> {
  const opId = o.opId ?? newOpId();
  const now = Date.now();
  const target: InstallTarget | undefined = o.target
    ? { name: o.backend, mirrors: [], uri: "", ...o.target }
    : undefined;
  const record: OpRecord = {
    v: 1,
    id: opId,
    nodeId: o.nodeId,
    kind: o.kind,
    backend: o.backend,
    target,
    ...(o.generation ? { generation: o.generation } : {}),
    state: o.state ?? "queued",
    requestedBy: "test",
    createdAt: now,
    updatedAt: now,
    attempts: 0,
    dismissed: false,
  };
  await c.create("ops", opKey(o.nodeId, opId), record);
  await new WorkQueue(c).publish(o.nodeId, opId);
  return opId;
}

export async function opRecord(c: ClusterClient, nodeId: string, opId: string): Promise<OpRecord | null> {
  return (await c.get("ops", opKey(nodeId, opId)))?.value ?? null;
}

export async function waitOp(
  c: ClusterClient,
  nodeId: string,
  opId: string,
  states: OpState[] = ["succeeded", "failed", "cancelled"],
  timeoutMs = 20_000,
): Promise<OpRecord> {
  return waitFor(
    `op ${opId} to be ${states.join("|")}`,
    async () => {
      const r = await opRecord(c, nodeId, opId);
      if (r && isTerminal(r.state) && !states.includes(r.state)) {
        throw new Error(`op ended ${r.state}: ${r.error ?? ""}`);
      }
      return r && states.includes(r.state) ? r : null;
    },
    timeoutMs,
  );
}

/** Run an op to its end and return the record; fails the test if it ends another way. */
export async function runOp(
  c: ClusterClient,
  o: SubmitOptions,
  expect: OpState = "succeeded",
  timeoutMs?: number,
): Promise<OpRecord> {
  const opId = await submit(c, o);
  return waitOp(c, o.nodeId, opId, [expect], timeoutMs);
}

/** Play the controller's cancel: persist `cancelling` (or `cancelled` while queued), then signal. */
export async function cancelOp(c: ClusterClient, nodeId: string, opId: string): Promise<void> {
  await c.modify("ops", opKey(nodeId, opId), (cur) => written(cancelTransition(cur, "test", Date.now())));
  const signal: CancelSignal = { v: 1, opId, nodeId };
  c.publish(c.subjects.cancel(nodeId, opId), signal);
  await c.nc.flush();
}

/**
 * Every file under `dir` with its sha256, links as `-> target`. An installed backend's directory
 * is read through its `current` link, so the digest is the live generation's tree.
 */
export async function treeDigest(dir: string, skip: string[] = []): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if ((await lstat(join(dir, "current")).catch(() => null))?.isSymbolicLink()) dir = join(dir, "current");
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (skip.includes(p)) continue;
      const st = await lstat(join(dir, p));
      if (st.isDirectory()) await walk(p);
      else if (st.isSymbolicLink()) out[p] = `-> ${await readlink(join(dir, p))}`;
      else
        out[p] = createHash("sha256")
          .update(await readFile(join(dir, p)))
          .digest("hex");
    }
  };
  await walk("");
  return out;
}

/** Incompressible bytes, so gzip cannot shrink a test payload. */
export const noise = (n: number) => randomBytes(n);
