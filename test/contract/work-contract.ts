import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkQueue, type ClusterClient, type Watcher } from "../../src/client/index.js";
import {
  isTerminal,
  newOpId,
  opKey,
  Phase,
  ProgressEvent,
  type InstallTarget,
  type OpRecord,
  type OpState,
} from "../../src/protocol/index.js";
import { waitFor } from "../harness/proc.js";

/**
 * The agent's work contract: what a node must do with a work item. The same cases run against
 * the real agent (src/agent) and against the controller tests' fake node, so the peer the
 * controller is tested with cannot drift from the one it runs with.
 */

/** How an op is to end on the node under test. */
export type Outcome = "succeed" | "fail" | "hang";

/** A node speaking the contract on a real NATS server, and how to make ops end a given way. */
export interface NodeUnderContract {
  nodeId: string;
  /** The client the test plays the controller with (not the node's own). */
  client: ClusterClient;
  /** An install target whose install succeeds, fails, or runs until it is cancelled. */
  target(outcome: Outcome, backend: string): Promise<InstallTarget>;
  dispose(): Promise<void>;
}

interface Run {
  opId: string;
  backend: string;
  /** Every revision of the op record, in order, from its creation on. */
  revisions: OpRecord[];
  progress: ProgressEvent[];
  stop(): void;
}

const WAIT_MS = 20_000;

export function workContract(name: string, start: () => Promise<NodeUnderContract>): void {
  describe(`the work contract, kept by ${name}`, () => {
    let node: NodeUnderContract;
    let c: ClusterClient;
    let queue: WorkQueue;
    let seq = 0;

    beforeAll(async () => {
      node = await start();
      c = node.client;
      queue = new WorkQueue(c);
    });
    afterAll(async () => {
      await node?.dispose();
    });

    /** Play the controller: follow the op, write its record, then queue its work item. */
    async function submit(outcome: Outcome | null, state: OpState = "queued"): Promise<Run> {
      const opId = newOpId();
      const backend = `contract-${++seq}`;
      const revisions: OpRecord[] = [];
      const progress: ProgressEvent[] = [];
      const key = opKey(node.nodeId, opId);
      const watcher: Watcher = c.watch("ops", (e) => e.type === "put" && revisions.push(e.value), { key });
      const unsubscribe = c.onProgress((p) => p.opId === opId && progress.push(p), node.nodeId);
      await watcher.ready;
      const now = Date.now();
      await c.create("ops", key, {
        v: 1,
        id: opId,
        nodeId: node.nodeId,
        kind: "install",
        backend,
        target: outcome ? await node.target(outcome, backend) : undefined,
        state,
        requestedBy: "contract",
        createdAt: now,
        updatedAt: now,
        attempts: 0,
        dismissed: false,
      });
      await queue.publish(node.nodeId, opId);
      return {
        opId,
        backend,
        revisions,
        progress,
        stop: () => {
          watcher.stop();
          unsubscribe();
        },
      };
    }

    async function ended(run: Run, state: OpState): Promise<OpRecord> {
      const last = await waitFor(
        `op ${run.opId} to end ${state}`,
        () => {
          const r = run.revisions.at(-1);
          if (r && isTerminal(r.state) && r.state !== state) {
            throw new Error(`op ended ${r.state} (${r.error ?? "no error"}), not ${state}`);
          }
          return r?.state === state ? r : null;
        },
        WAIT_MS,
      );
      return last;
    }

    /** The op's work item was acked: it is no longer in the work stream. */
    async function acked(opId: string): Promise<void> {
      await waitFor(
        `the work item of ${opId} to be acked`,
        async () => !(await queue.pending(node.nodeId)).some((m) => m.opId === opId),
        WAIT_MS,
      );
    }

    const states = (run: Run) => run.revisions.map((r) => r.state).filter((s, i, all) => s !== all[i - 1]);

    it("takes a queued op, runs it once and finishes it: queued → running → succeeded, then acks", async () => {
      const run = await submit("succeed");
      const done = await ended(run, "succeeded");
      await acked(run.opId);
      run.stop();
      expect(states(run)[0]).toBe("queued");
      expect(states(run)).toContain("running");
      expect(states(run).at(-1)).toBe("succeeded");
      const running = run.revisions.find((r) => r.state === "running")!;
      expect(running.attempts).toBe(1);
      expect(running.startedAt).toBeGreaterThan(0);
      expect(done.attempts).toBe(1);
      expect(done.finishedAt).toBeGreaterThanOrEqual(running.startedAt!);
      expect(done.result).toBeDefined();
      expect(done.error).toBeUndefined();
    });

    it("records a phase while running and publishes valid progress for the op", async () => {
      const run = await submit("succeed");
      await ended(run, "succeeded");
      await waitFor("a progress event", () => run.progress.length > 0, WAIT_MS);
      run.stop();
      const phases = run.revisions.filter((r) => r.state === "running").map((r) => r.phase);
      expect(phases.some((p) => Phase.safeParse(p).success)).toBe(true);
      for (const p of run.progress) {
        expect(ProgressEvent.safeParse(p).success).toBe(true);
        expect(p).toMatchObject({ opId: run.opId, nodeId: node.nodeId, backend: run.backend });
      }
    });

    it("an op that fails ends failed with its error recorded, and its work is acked", async () => {
      const run = await submit("fail");
      const done = await ended(run, "failed");
      await acked(run.opId);
      run.stop();
      expect(states(run)).toContain("running");
      expect(done.error).toMatch(/\S/);
      expect(done.finishedAt).toBeGreaterThan(0);
    });

    it("honours a cancel while running: `cancelling` persisted, then signalled, ends cancelled", async () => {
      const run = await submit("hang");
      await waitFor("the op to run", () => run.revisions.some((r) => r.state === "running"), WAIT_MS);
      await waitFor("its first progress event", () => run.progress.length > 0, WAIT_MS);
      const key = opKey(node.nodeId, run.opId);
      await c.modify("ops", key, (cur) => ({ ...cur, state: "cancelling", updatedAt: Date.now() }));
      c.publishCancel({ v: 1, opId: run.opId, nodeId: node.nodeId });
      const signalled = Date.now();
      const done = await ended(run, "cancelled");
      expect(Date.now() - signalled).toBeLessThan(5_000);
      await acked(run.opId);
      run.stop();
      expect(done.finishedAt).toBeGreaterThan(0);
      expect(states(run).slice(-2)).toEqual(["cancelling", "cancelled"]);
    });

    it("an op already `cancelling` when its work item is taken ends cancelled without running", async () => {
      const run = await submit("succeed", "cancelling");
      const done = await ended(run, "cancelled");
      await acked(run.opId);
      run.stop();
      expect(states(run)).not.toContain("running");
      expect(done.attempts).toBe(0);
    });

    it("a work item whose op is already final is acked and leaves the record alone", async () => {
      const run = await submit("succeed", "failed");
      await acked(run.opId);
      const rec = await c.get("ops", opKey(node.nodeId, run.opId));
      run.stop();
      expect(rec?.value.state).toBe("failed");
      expect(run.revisions).toHaveLength(1);
    });

    it("a work item with no op record is acked and writes nothing", async () => {
      const opId = newOpId();
      await queue.publish(node.nodeId, opId);
      await acked(opId);
      expect(await c.get("ops", opKey(node.nodeId, opId))).toBeNull();
    });

    it("a malformed work item is dropped and the next one still runs", async () => {
      c.publish(c.subjects.work(node.nodeId), "not a work item");
      c.publish(c.subjects.work(node.nodeId), { v: 9, opId: "x", nodeId: node.nodeId });
      const run = await submit("succeed");
      await ended(run, "succeeded");
      await acked(run.opId);
      run.stop();
    });
  });
}
