import { describe, expect, it } from "vitest";
import { progressLine } from "../../src/cli/wait.js";
import { ProgressEvent } from "../../src/protocol/index.js";

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
