import { describe, expect, it } from "vitest";
import { OpLog, progressLine, summaryLine } from "../../src/cli/wait.js";
import { ProgressEvent, type OpRecord } from "../../src/protocol/index.js";
import { op } from "../dash/helpers/cluster.js";

const MiB = 2 ** 20;

function event(over: Partial<ProgressEvent> = {}): ProgressEvent {
  return ProgressEvent.parse({
    v: 1,
    opId: "op-1",
    nodeId: "gpu-01",
    backend: "llama-cpp",
    phase: "downloading",
    bytesDone: 150 * MiB,
    bytesTotal: 600 * MiB,
    bytesPerSec: 2.5 * MiB,
    etaSec: 36.2,
    at: 1_700_000_000_000,
    ...over,
  });
}

describe("progressLine", () => {
  it("uses the dashboard's units: bytes, rate and ETA read the same in both", () => {
    expect(progressLine(event())).toBe("gpu-01 op-1 llama-cpp downloading 25% 150M/600M 2.5M/s eta 37s");
    expect(progressLine(event({ etaSec: 125 }))).toContain("eta 2m05s");
  });

  it("leaves out what is unknown or over", () => {
    expect(progressLine(event({ bytesTotal: null, bytesPerSec: 0, etaSec: null }))).toBe(
      "gpu-01 op-1 llama-cpp downloading 150M/-",
    );
    expect(progressLine(event({ final: true, bytesDone: 600 * MiB }))).not.toContain("eta");
  });
});

describe("OpLog: what --wait and ops watch print", () => {
  const rec = (o: Partial<OpRecord>) => op("gpu-01", { id: "op-1", backend: "cuda12-llama-cpp", ...o });

  it("prints one line per state or phase change, never the same line twice", () => {
    const log = new OpLog();
    const lines = [
      rec({ state: "queued" }),
      rec({ state: "running", phase: "downloading" }),
      rec({ state: "running", phase: "downloading" }),
      rec({ state: "running", phase: "downloading", updatedAt: 5 }),
      rec({ state: "running", phase: "extracting" }),
      rec({ state: "succeeded", phase: "activating" }),
    ].map((r) => log.op(r));
    expect(lines.filter((l) => l !== undefined)).toEqual([
      "gpu-01 op-1 install cuda12-llama-cpp queued",
      "gpu-01 op-1 install cuda12-llama-cpp running (downloading)",
      "gpu-01 op-1 install cuda12-llama-cpp running (extracting)",
      "gpu-01 op-1 install cuda12-llama-cpp succeeded",
    ]);
  });

  it("says nothing about an op once it has ended", () => {
    const log = new OpLog();
    expect(log.op(rec({ state: "failed", error: "boom" }))).toBe(
      "gpu-01 op-1 install cuda12-llama-cpp failed: boom",
    );
    expect(log.progress(event({ opId: "op-1" }))).toBeUndefined();
    expect(log.op(rec({ state: "running", phase: "downloading" }))).toBeUndefined();
    expect(log.progress(event({ opId: "op-2" }))).toContain("op-2");
  });

  it("ends with a summary line", () => {
    const ops = [
      rec({ state: "succeeded" }),
      rec({ id: "op-2", state: "succeeded" }),
      rec({ id: "op-3", state: "failed" }),
    ];
    expect(summaryLine(ops)).toBe("2 succeeded, 1 failed");
    expect(summaryLine([...ops, rec({ id: "op-4", state: "cancelled" })])).toBe(
      "2 succeeded, 1 failed, 1 cancelled",
    );
  });
});
