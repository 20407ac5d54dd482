import { describe, expect, it } from "vitest";
import { candidates, tagFallback } from "../../src/agent/sources/index.js";
import { defaultNodeId, labels } from "../../src/cli/agent.js";
import { parseBytes, parseDuration } from "../../src/cli/args.js";
import { MediaType } from "../../src/oci/media-types.js";
import { selectPlatform, type Descriptor } from "../../src/oci/pull.js";

const d = (
  os: string,
  architecture: string,
  variant?: string,
  extra: Partial<Descriptor> = {},
): Descriptor => ({
  mediaType: MediaType.ociManifest,
  digest: `sha256:${(os + architecture + (variant ?? ""))
    .padEnd(64, "0")
    .slice(0, 64)
    .replace(/[^a-f0-9]/g, "a")}`,
  size: 1,
  platform: { os, architecture, variant },
  ...extra,
});

describe("source candidates", () => {
  it("tries the URI, its mirrors (host-less = Docker Hub), then latest- -> master-", () => {
    expect(
      candidates({
        uri: "quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
        mirrors: ["localai/localai-backends:latest-gpu-nvidia-cuda-12-llama-cpp"],
      }),
    ).toEqual([
      "quay.io/go-skynet/local-ai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
      "localai/localai-backends:latest-gpu-nvidia-cuda-12-llama-cpp",
      "quay.io/go-skynet/local-ai-backends:master-gpu-nvidia-cuda-12-llama-cpp",
    ]);
  });

  it("no tag fallback for other tags, digests, tarballs or dirs", () => {
    expect(tagFallback("quay.io/x/y:master-cpu")).toBeUndefined();
    expect(tagFallback("quay.io/x/y:1.2.3")).toBeUndefined();
    expect(tagFallback("https://example.com/latest-x.tar.gz")).toBeUndefined();
    expect(tagFallback("file:///srv/latest-x")).toBeUndefined();
    expect(tagFallback("127.0.0.1:5000/a/b:latest-cpu")).toBe("127.0.0.1:5000/a/b:master-cpu");
  });
});

describe("platform choice from an index", () => {
  const index = [
    d("unknown", "unknown", undefined, {
      annotations: { "vnd.docker.reference.type": "attestation-manifest" },
    }),
    d("linux", "arm", "v6"),
    d("linux", "arm", "v7"),
    d("linux", "arm64"),
    d("linux", "amd64"),
    d("linux", "amd64", undefined, { mediaType: "application/vnd.unknown" }),
  ];
  const table: Array<[string, Parameters<typeof selectPlatform>[1], number | undefined]> = [
    ["amd64", { os: "linux", architecture: "amd64" }, 4],
    ["arm64 v8 matches an unnamed variant", { os: "linux", architecture: "arm64", variant: "v8" }, 3],
    ["arm v7 picks v7, not v6", { os: "linux", architecture: "arm", variant: "v7" }, 2],
    ["darwin has nothing", { os: "darwin", architecture: "arm64" }, undefined],
  ];
  for (const [what, want, i] of table) {
    it(what, () => {
      expect(selectPlatform(index, want)).toBe(i === undefined ? undefined : index[i]);
    });
  }
});

describe("agent flag values", () => {
  it("parses byte counts and durations", () => {
    expect(parseBytes("500000", "x")).toBe(500_000);
    expect(parseBytes("10M", "x")).toBe(10 * 1024 ** 2);
    expect(parseBytes("2GiB", "x")).toBe(2 * 1024 ** 3);
    expect(parseBytes("1.5k", "x")).toBe(1536);
    expect(() => parseBytes("ten", "rate-limit")).toThrow(/--rate-limit must be a byte count/);
    expect(parseDuration("5s", "x")).toBe(5000);
    expect(parseDuration("250ms", "x")).toBe(250);
    expect(parseDuration("90", "x")).toBe(90_000); // a bare number is seconds everywhere
    expect(parseDuration("1.5", "x")).toBe(1500);
    expect(() => parseDuration("30s", "check-interval", 60_000)).toThrow(
      "--check-interval must be at least 1m",
    );
    expect(() => parseDuration("5 minutes", "heartbeat-interval")).toThrow(/--heartbeat-interval/);
  });

  it("parses labels and refuses ones the heartbeat schema would reject", () => {
    expect(labels(["rack=3", "zone=a=b"])).toEqual({ rack: "3", zone: "a=b" });
    expect(() => labels(["norack"])).toThrow(/KEY=VALUE/);
    expect(() => labels([`${"k".repeat(64)}=v`])).toThrow(/at most 63/);
  });

  it("derives a node id from the host name", () => {
    expect(defaultNodeId("gpu-01.rack3.example.com")).toBe("gpu-01-rack3-example-com");
    expect(defaultNodeId("")).toBe("node");
  });
});
