import { describe, expect, it } from "vitest";
import { historyRows } from "../../../src/format/history.js";
import { ROLLOUT_EVENT_KINDS, type AuditEvent, type AuditKind } from "../../../src/protocol/index.js";

const T0 = 1_800_000_000_000;
const ev = (kind: AuditKind, message: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  v: 1,
  kind,
  at: T0,
  actor: "rollouts@ctl-0",
  backend: "llama-cpp",
  message,
  ...extra,
});
const cells = (e: AuditEvent) => {
  const c = historyRows([e], T0)[0]!.cells;
  return [c.event!.text, c.event!.tone, c.detail!.text, c.node!.text];
};
const ID = "ro-mx62ytnx-xudx";

describe("History: rollout events", () => {
  it.each<[AuditKind, string, string, string | undefined, string]>([
    [
      "rollout.created",
      `${ID}: llama-cpp to 2.0.0, 5 of 6 nodes in 3 waves (auto-upgrade)`,
      "rollout new",
      undefined,
      `llama-cpp to 2.0.0, 5 of 6 nodes in 3 waves (auto-upgrade) · ${ID}`,
    ],
    [
      "rollout.started",
      `${ID}: rollout of llama-cpp started: 5 nodes in 3 waves`,
      "rollout run",
      undefined,
      `rollout of llama-cpp started: 5 nodes in 3 waves · ${ID}`,
    ],
    ["rollout.wave", `${ID}: wave 2 of 3 started`, "wave started", undefined, `wave 2 of 3 started · ${ID}`],
    [
      "rollout.gate.passed",
      `${ID}: wave 1 of 3 passed its gate`,
      "gate passed",
      "ok",
      `wave 1 of 3 passed its gate · ${ID}`,
    ],
    [
      "rollout.gate.failed",
      `${ID}: failure budget exceeded in wave 1: 1 node failed (budget 0): gpu-01; gpu-01: probe failed`,
      "gate failed",
      "err",
      `failure budget exceeded in wave 1: 1 node failed (budget 0): gpu-01; gpu-01: probe failed · ${ID}`,
    ],
    [
      "rollout.paused",
      `${ID}: alice paused the rollout of llama-cpp: lunch`,
      "paused",
      "warn",
      `alice paused the rollout of llama-cpp: lunch · ${ID}`,
    ],
    [
      "rollout.resumed",
      `${ID}: alice resumed the rollout of llama-cpp`,
      "resumed",
      undefined,
      `alice resumed the rollout of llama-cpp · ${ID}`,
    ],
    [
      "rollout.promoted",
      `${ID}: alice promoted wave 1 of llama-cpp`,
      "promoted",
      undefined,
      `alice promoted wave 1 of llama-cpp · ${ID}`,
    ],
    [
      "rollout.aborted",
      `${ID}: alice aborted the rollout of llama-cpp`,
      "aborted",
      "warn",
      `alice aborted the rollout of llama-cpp · ${ID}`,
    ],
    [
      "rollout.node.reverted",
      `${ID}: gpu-02 is back on g-7`,
      "reverted",
      "warn",
      `gpu-02 is back on g-7 · ${ID}`,
    ],
    [
      "rollout.ended",
      `${ID}: rollout of llama-cpp succeeded: 5 nodes upgraded`,
      "rollout end",
      "ok",
      `rollout of llama-cpp succeeded: 5 nodes upgraded · ${ID}`,
    ],
    [
      "rollout.ended",
      `${ID}: rollout of llama-cpp aborted: aborted by alice; 2 nodes reverted`,
      "rollout end",
      "warn",
      `rollout of llama-cpp aborted: aborted by alice; 2 nodes reverted · ${ID}`,
    ],
    [
      "rollout.ended",
      `${ID}: alice dismissed the rollout of llama-cpp`,
      "dismissed",
      undefined,
      `alice dismissed the rollout of llama-cpp · ${ID}`,
    ],
  ])("%s: %s", (kind, message, event, tone, detail) => {
    expect(cells(ev(kind, message))).toEqual([event, tone, detail, ""]);
  });

  it("covers every rollout event kind with a label that fits the EVENT column", () => {
    for (const kind of ROLLOUT_EVENT_KINDS) {
      const [event] = cells(ev(kind, `${ID}: x`));
      expect(event).not.toBe(kind);
      expect(String(event).length).toBeLessThanOrEqual(12);
    }
  });

  it("shows the node of a node event, and a message without a rollout id as it is", () => {
    expect(cells(ev("rollout.node.reverted", `${ID}: gpu-02 is back on g-7`, { nodeId: "gpu-02" }))[3]).toBe(
      "gpu-02",
    );
    expect(cells(ev("rollout.paused", "paused by hand"))[2]).toBe("paused by hand");
  });

  it("leaves op events as they were", () => {
    expect(cells(ev("settings.changed", "autoUpgrade=true"))).toEqual([
      "settings.changed",
      undefined,
      "autoUpgrade=true",
      "",
    ]);
  });
});
