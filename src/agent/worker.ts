import type { ClusterClient, Entry } from "../client/cluster-client.js";
import { WorkQueue, type WorkDeliveries, type WorkMessage } from "../client/work-queue.js";
import { errorMessage, type Logger } from "../lib/log.js";
import { sleep } from "../lib/sleep.js";
import {
  cancelRequested,
  isRunnable,
  isTerminal,
  type OpRecord,
  type ProgressEvent,
} from "../protocol/index.js";
import { CancelledError, HookFailedError, ShutdownError } from "./errors.js";
import type { Executor } from "./executor.js";
import type { NameLocks, Slots } from "./locks.js";
import type { AgentMetrics } from "./metrics.js";
import { MalformedRecordError, OpRecords, type Outcome } from "./op-records.js";
import { ProgressReporter } from "./progress.js";

export const ACK_WAIT_MS = 30_000;
export const WORKING_EVERY_MS = 10_000;
/** A running op's record is re-read this often (a missed cancel signal is still noticed). */
export const RECORD_CHECK_MS = 5_000;
const TOUCH_EVERY_MS = 60_000;
/** A cancel signal whose record does not say `cancelling` yet is checked once more after this. */
const CANCEL_REREAD_MS = 1_000;

export interface WorkerDeps {
  client: ClusterClient;
  nodeId: string;
  executor: Executor;
  locks: NameLocks;
  slots: Slots;
  log: Logger;
  /** Called after every op that reached a final state (the disk may have changed). */
  changed(): Promise<void>;
  metrics?: AgentMetrics;
}

interface ActiveOp {
  opId: string;
  msg: WorkMessage;
  abort: AbortController;
  /** Executing (holds its locks and a slot), as opposed to waiting or deciding. */
  running: boolean;
}

/**
 * The agent's work loop: a durable pull consumer on this node's work subject. Each message names an
 * op; the op record decides what happens. The message is kept in progress while the op waits or
 * runs, and acked only once the record is final.
 */
export class Worker {
  private readonly records: OpRecords;
  private readonly active = new Map<string, ActiveOp>();
  private readonly handlers = new Set<Promise<void>>();
  private readonly queue: WorkQueue;
  private messages?: WorkDeliveries;
  private stopping = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(private readonly d: WorkerDeps) {
    this.records = new OpRecords(d.client, d.nodeId);
    this.queue = new WorkQueue(d.client);
  }

  get durableName(): string {
    return WorkQueue.durableName(this.d.nodeId);
  }

  /** Ops executing right now (for the heartbeat). */
  get runningOps(): number {
    let n = 0;
    for (const a of this.active.values()) if (a.running) n++;
    return n;
  }

  /** Ops taken from the queue that wait for their locks or a slot (or are being decided). */
  get waitingOps(): number {
    return this.active.size - this.runningOps;
  }

  /** Whether the work consumer is bound: deliveries are being pulled (for readiness). */
  get consuming(): boolean {
    return this.messages !== undefined && !this.stopping;
  }

  private consume(): Promise<WorkDeliveries> {
    return this.queue.consume(
      this.d.nodeId,
      { ackWaitMs: ACK_WAIT_MS, maxAckPending: 256, batch: 16 },
      (status) => this.d.log.warn("work consumer lost; re-creating it", { status }),
    );
  }

  async start(): Promise<void> {
    // Re-creating the consumer hands every unacked message back at once, so an op interrupted by a
    // crash is retried now instead of after ack_wait. Our own attempt count bounds the retries.
    await this.queue.resetConsumer(this.d.nodeId);
    this.messages = await this.consume();
    this.loop = this.run();
  }

  /** Take messages until stopped; if the consumer goes away (deleted, stream lost), make it again. */
  private async run(): Promise<void> {
    for (let failures = 0; !this.stopping;) {
      try {
        this.messages ??= await this.consume();
        for await (const m of this.messages) {
          failures = 0;
          if (this.stopping) break;
          const h = this.handle(m).catch((e) =>
            this.d.log.error("work handler failed", { error: errorMessage(e) }),
          );
          this.handlers.add(h);
          void h.finally(() => this.handlers.delete(h));
        }
      } catch (e) {
        this.d.log.warn("work consumer failed", { error: errorMessage(e) });
      }
      this.messages = undefined;
      if (this.stopping) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(10_000, 500 * 2 ** failures++));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /**
   * A cancel signal: a wake-up, not an order. The op is aborted (waiting or running) only when its
   * record says `cancelling` (or already `cancelled`): anyone able to publish on the cancel subject
   * could send one, but only the controller writes the record. The record is read again once after
   * a moment, for a replica that has not seen the controller's write yet.
   */
  async cancel(opId: string): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const a = this.active.get(opId);
      if (!a) return false;
      let record: OpRecord | undefined;
      let state = "missing";
      try {
        record = (await this.records.read(opId))?.value;
        state = record?.state ?? state;
      } catch (e) {
        state = `unreadable (${errorMessage(e)})`;
      }
      if (record && cancelRequested(record)) {
        this.d.log.info("cancel signal", { opId });
        a.abort.abort(new CancelledError());
        return true;
      }
      if (attempt === 0) await sleep(CANCEL_REREAD_MS);
      else
        this.d.log.warn("ignoring a cancel signal: the op record does not say cancelling", { opId, state });
    }
    return false;
  }

  /** Stop taking work, stop what is downloading (a swap under way finishes), wait for the rest. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.messages?.close().catch(() => {});
    for (const a of this.active.values()) a.abort.abort(new ShutdownError());
    await Promise.allSettled([...this.handlers]);
    await this.loop?.catch(() => {});
  }

  private async handle(msg: WorkMessage): Promise<void> {
    const { item } = msg;
    if (!item.ok) {
      this.d.log.warn("dropping a malformed work item", { subject: msg.subject, error: item.error });
      msg.ack();
      return;
    }
    const { opId, nodeId } = item.value;
    if (nodeId !== this.d.nodeId) {
      this.d.log.warn("dropping a work item for another node", { opId, nodeId });
      msg.ack();
      return;
    }
    const existing = this.active.get(opId);
    if (existing) {
      // Redelivered while we are still on it (a stall outlived ack_wait): keep the newest handle.
      existing.msg = msg;
      return;
    }
    const op: ActiveOp = { opId, msg, abort: new AbortController(), running: false };
    this.active.set(opId, op);
    let lastTouch = Date.now();
    const keepAlive = setInterval(() => op.msg.working(), WORKING_EVERY_MS);
    const watch = setInterval(() => {
      void this.records
        .read(opId)
        .then(async (e) => {
          if (e && cancelRequested(e.value)) {
            op.abort.abort(new CancelledError());
          } else if (op.running && Date.now() - lastTouch > TOUCH_EVERY_MS) {
            lastTouch = Date.now();
            await this.records.touch(opId);
          }
        })
        .catch(() => {});
    }, RECORD_CHECK_MS);
    const releases: Array<() => void> = [];
    try {
      await this.process(op, releases);
    } finally {
      clearInterval(keepAlive);
      clearInterval(watch);
      for (const r of releases.reverse()) r();
      this.active.delete(opId);
    }
  }

  private async process(op: ActiveOp, releases: Array<() => void>): Promise<void> {
    const { opId } = op;
    const log = this.d.log.child({ opId });
    const read = this.records.read(opId);
    // This item's place in the name queue is taken now, in arrival order; its names follow the
    // read, so a later op whose names are known sooner cannot run first.
    const granted = this.d.locks.acquire(
      read.then((e) => (e && isRunnable(e.value) ? this.d.executor.lockNames(e.value) : [])),
      op.abort.signal,
    );
    granted.catch(() => {}); // awaited below, and only when the op is to run
    let first: Entry<OpRecord> | null;
    try {
      first = await read;
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      log.warn("dropping a work item whose op record is malformed", { error: e.message });
      op.msg.ack();
      return;
    }
    if (!first || isTerminal(first.value.state)) {
      log.debug("skipping work item", { why: first ? first.value.state : "no op record" });
      op.msg.ack();
      return;
    }
    let outcome: Outcome;
    let progress: ProgressReporter | undefined;
    let record: OpRecord = first.value;
    let startedAt = 0;
    try {
      if (!isRunnable(record)) throw new CancelledError();
      releases.push(await granted);
      releases.push(await this.d.slots.acquire(op.abort.signal));
      const decision = await this.records.start(opId);
      if (decision.action === "skip") {
        log.debug("not running op", { why: decision.why });
        op.msg.ack();
        return;
      }
      record = decision.record;
      op.running = true;
      startedAt = Date.now();
      log.info("op started", { kind: record.kind, backend: record.backend, attempt: record.attempts });
      const reporter = new ProgressReporter({
        opId,
        nodeId: this.d.nodeId,
        backend: record.target?.name ?? record.backend,
        publish: (e: ProgressEvent) => {
          try {
            this.d.client.publishProgress(e);
          } catch {
            // progress is best effort
          }
        },
      });
      progress = reporter;
      const result = await this.d.executor.run(record, {
        signal: op.abort.signal,
        observe: {
          phase: async (p, bytesTotal) => {
            reporter.setPhase(p);
            try {
              await this.records.setPhase(opId, p, bytesTotal);
            } catch (e) {
              // A cancel stops the op; NATS being briefly away does not (the final write retries).
              if (e instanceof CancelledError) throw e;
              log.warn("cannot record the phase", { phase: p, error: errorMessage(e) });
            }
          },
          total: (t) => reporter.setTotal(t),
          newAttempt: () => reporter.newAttempt(),
          bytes: (n, cached) => {
            reporter.add(n);
            if (!cached) this.d.metrics?.downloadedBytes.inc(n);
          },
        },
      });
      outcome = { state: "succeeded", result };
    } catch (e) {
      const reason: unknown = op.abort.signal.aborted ? op.abort.signal.reason : e;
      if (reason instanceof ShutdownError) {
        void progress?.finish();
        if (op.running) {
          await this.records.requeue(opId).catch(() => {});
        }
        log.info("op interrupted by shutdown; it will run again after the restart");
        this.count(record.kind, "interrupted", startedAt);
        op.msg.nak();
        return;
      }
      outcome =
        reason instanceof CancelledError
          ? { state: "cancelled", error: reason.message === "cancelled" ? undefined : reason.message }
          : e instanceof HookFailedError
            ? { state: "failed", error: e.message, result: { hook: e.hook } }
            : { state: "failed", error: errorMessage(e) };
    }
    this.count(record.kind, outcome.state, startedAt);
    // The inventory first: whoever sees the final state can trust the inventory already.
    if (op.running) {
      await this.d.changed().catch((e) => log.warn("inventory update failed", { error: errorMessage(e) }));
    }
    const final = await this.finish(opId, outcome, log, op.running ? record : undefined);
    void progress?.finish();
    if (!final) return; // stopping while NATS is unreachable: the redelivery will settle it
    if (final === "unreadable") {
      op.msg.ack();
      return;
    }
    log.info("op finished", { state: final.state, error: final.error });
    op.msg.ack();
  }

  /** An op ended here: by kind and outcome, and how long it ran when it installed something. */
  private count(kind: OpRecord["kind"], outcome: string, startedAt: number): void {
    const m = this.d.metrics;
    if (!m) return;
    m.ops.inc({ kind, outcome });
    if (startedAt && (kind === "install" || kind === "upgrade" || kind === "reinstall")) {
      m.installDuration.observe({ kind, outcome }, (Date.now() - startedAt) / 1000);
    }
  }

  /**
   * Write the final state, retrying while NATS is unreachable (unless the agent is stopping). A
   * record that has become unreadable is written over when this agent ran the op (`running`),
   * else left alone: retrying would not mend it.
   */
  private async finish(
    opId: string,
    outcome: Outcome,
    log: Logger,
    running?: OpRecord,
  ): Promise<OpRecord | "unreadable" | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.records.finish(opId, outcome, Date.now(), running);
      } catch (e) {
        if (e instanceof MalformedRecordError) {
          log.warn("op record is unreadable; its final state is not written", { error: e.message });
          return "unreadable";
        }
        if (this.stopping && attempt > 2) return null;
        log.warn("cannot write the final op state yet", { error: errorMessage(e), attempt });
        await sleep(Math.min(5_000, 250 * 2 ** attempt));
      }
    }
  }
}
