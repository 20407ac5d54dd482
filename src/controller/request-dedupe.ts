import { isCasConflict, type ClusterClient } from "../client/index.js";
import { errorMessage, silentLogger, type Logger } from "../lib/log.js";
import { sleep } from "../lib/sleep.js";
import type { ApiEnvelope, RequestRecord } from "../protocol/index.js";

export interface DedupeOptions {
  /** Who we are (replica id), written into a claim. */
  holder: string;
  logger?: Logger;
  /** How long a repeat waits for the first request to finish before answering `unavailable`. */
  waitMs?: number;
  /**
   * A claim not renewed for this long was abandoned (its replica died mid-request) and is taken
   * over. The replica applying a request renews its claim every quarter of it.
   */
  abandonedAfterMs?: number;
  pollMs?: number;
}

/**
 * Apply a keyed write request once per (method, key), across every replica: the first to
 * `create` the key in the `requests` bucket applies it and stores its reply; a repeat (a client
 * retrying after a timeout, on this replica or another) gets that reply instead of applying it
 * again. The bucket's max age is how long keys are remembered.
 */
export class RequestDedupe {
  private readonly log: Logger;
  private readonly waitMs: number;
  private readonly abandonedAfterMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly client: ClusterClient,
    private readonly o: DedupeOptions,
  ) {
    this.log = o.logger ?? silentLogger;
    this.waitMs = o.waitMs ?? 8_000;
    this.abandonedAfterMs = o.abandonedAfterMs ?? 20_000;
    this.pollMs = o.pollMs ?? 100;
  }

  async once(method: string, key: string, apply: () => Promise<ApiEnvelope>): Promise<ApiEnvelope> {
    const kvKey = `${method}.${key}`;
    const claim = (): RequestRecord => ({
      v: 1,
      method,
      state: "pending",
      by: this.o.holder,
      at: Date.now(),
    });
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      let revision: number;
      try {
        const cur = await this.client.get("requests", kvKey);
        if (cur === null) {
          revision = await this.client.create("requests", kvKey, claim());
        } else if (cur.value.state === "done" && cur.value.reply) {
          return cur.value.reply;
        } else if (Date.now() - cur.value.at > this.abandonedAfterMs) {
          revision = await this.client.update("requests", kvKey, claim(), cur.revision);
        } else if (Date.now() < deadline) {
          await sleep(this.pollMs);
          continue;
        } else {
          return {
            ok: false,
            error: {
              code: "unavailable",
              message: `${method} with this idempotency key is still being applied; ask again with the same key`,
            },
          };
        }
      } catch (e) {
        // Another replica claimed it between our read and our write: read again.
        if (isCasConflict(e)) continue;
        return {
          ok: false,
          error: { code: "unavailable", message: `cannot record the request's key: ${errorMessage(e)}` },
        };
      }
      return this.applyClaimed(kvKey, revision, method, apply);
    }
  }

  private async applyClaimed(
    kvKey: string,
    revision: number,
    method: string,
    apply: () => Promise<ApiEnvelope>,
  ): Promise<ApiEnvelope> {
    const claim = await this.keepingClaim(kvKey, revision, method, apply);
    const reply = claim.reply;
    revision = claim.revision;
    const done: RequestRecord = { v: 1, method, state: "done", by: this.o.holder, at: Date.now(), reply };
    try {
      await this.client.update("requests", kvKey, done, revision);
    } catch (e) {
      // Unrecorded (a reply over the value limit): drop the claim so a repeat is not kept waiting.
      this.log.warn("cannot record a keyed request's reply", { key: kvKey, error: errorMessage(e) });
      await this.client.delete("requests", kvKey).catch(() => {});
    }
    return reply;
  }

  /**
   * Run `apply` while renewing the claim, so that a long request (a fan-out to thousands of
   * nodes) is not taken for abandoned and applied a second time by another replica, while a
   * replica that died mid-request frees its key within `abandonedAfterMs`.
   */
  private async keepingClaim(
    kvKey: string,
    revision: number,
    method: string,
    apply: () => Promise<ApiEnvelope>,
  ): Promise<{ reply: ApiEnvelope; revision: number }> {
    let current = revision;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = this.client
        .update(
          "requests",
          kvKey,
          { v: 1, method, state: "pending", by: this.o.holder, at: Date.now() },
          current,
        )
        .then(
          (r) => void (current = r),
          (e: unknown) =>
            this.log.warn("cannot renew a keyed request's claim", { key: kvKey, error: errorMessage(e) }),
        );
    }, this.abandonedAfterMs / 4);
    try {
      const reply = await apply();
      return { reply, revision: current };
    } finally {
      clearInterval(timer);
      await renewing;
    }
  }
}
