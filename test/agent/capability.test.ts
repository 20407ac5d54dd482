import { describe, expect, it } from "vitest";
import { detectCapability, type CapabilityProbe } from "../../src/agent/capability.js";

const GiB = 1024 ** 3;

interface Machine {
  platform?: string;
  arch?: string;
  env?: Record<string, string>;
  files?: Record<string, string>;
  /** Paths that exist (directories, devices). */
  paths?: string[];
  dirs?: Record<string, string[]>;
  /** Output by command line (`cmd arg arg`). */
  commands?: Record<string, string>;
  mem?: number;
}

function probe(m: Machine): CapabilityProbe {
  return {
    platform: m.platform ?? "linux",
    arch: m.arch ?? "x64",
    env: (n) => m.env?.[n],
    readFile: async (p) => m.files?.[p] ?? null,
    exists: async (p) => (m.paths ?? []).includes(p) || p in (m.files ?? {}) || p in (m.dirs ?? {}),
    listDir: async (p) => m.dirs?.[p] ?? [],
    run: async (cmd, args) => m.commands?.[[cmd, ...args].join(" ")] ?? null,
    totalMemBytes: () => m.mem ?? 16 * GiB,
  };
}

const SMI_QUERY = "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits";
const nvidia = (mib: number, extra: Machine = {}): Machine => ({
  ...extra,
  commands: {
    [SMI_QUERY]: `NVIDIA RTX A6000, ${mib}\n`,
    "nvidia-smi": "| NVIDIA-SMI 550.54  Driver Version: 550.54  CUDA Version: 12.4 |",
    ...extra.commands,
  },
});
const drm = (vendor: string, vram?: number): Machine => ({
  dirs: { "/sys/class/drm": ["card0", "card0-DP-1", "renderD128"] },
  files: {
    "/sys/class/drm/card0/device/vendor": `${vendor}\n`,
    ...(vram !== undefined ? { "/sys/class/drm/card0/device/mem_info_vram_total": `${vram}\n` } : {}),
  },
});

const cases: Array<[string, Machine, string, (o: { forced?: string }) => { forced?: string }]> = [
  ["no GPU", {}, "default", (o) => o],
  ["forced by flag beats detection", nvidia(49140), "vulkan", () => ({ forced: "vulkan" })],
  ["forced by LocalAI env", { env: { LOCALAI_FORCE_META_BACKEND_CAPABILITY: "intel" } }, "intel", (o) => o],
  [
    "forced by file",
    { files: { "/run/backplane/capability": "nvidia-cuda-13\n" } },
    "nvidia-cuda-13",
    (o) => o,
  ],
  ["forced by LocalAI's file", { files: { "/run/localai/capability": "amd" } }, "amd", (o) => o],
  ["darwin arm64", { platform: "darwin", arch: "arm64" }, "metal", (o) => o],
  ["darwin x64", { platform: "darwin", arch: "x64" }, "darwin-x86", (o) => o],
  [
    "Jetson, CUDA 13",
    nvidia(8000, { arch: "arm64", paths: ["/usr/local/cuda-13"] }),
    "nvidia-l4t-cuda-13",
    (o) => o,
  ],
  [
    "Jetson, CUDA 12",
    nvidia(8000, { arch: "arm64", paths: ["/usr/local/cuda-12"] }),
    "nvidia-l4t-cuda-12",
    (o) => o,
  ],
  [
    "Jetson without nvidia-smi",
    { arch: "arm64", files: { "/etc/nv_tegra_release": "R36" } },
    "nvidia-l4t",
    (o) => o,
  ],
  ["Jetson ignores the VRAM cut-off", nvidia(2048, { arch: "arm64" }), "nvidia-l4t-cuda-12", (o) => o],
  ["NVIDIA with 4 GiB is low VRAM", nvidia(4096), "default", (o) => o],
  [
    "NVIDIA, /usr/local/cuda-13",
    nvidia(24564, { paths: ["/usr/local/cuda-13", "/usr/local/cuda-12"] }),
    "nvidia-cuda-13",
    (o) => o,
  ],
  [
    "NVIDIA, /usr/local/cuda-12",
    nvidia(24564, { paths: ["/usr/local/cuda-12"] }),
    "nvidia-cuda-12",
    (o) => o,
  ],
  ["NVIDIA, CUDA from nvidia-smi", nvidia(24564), "nvidia-cuda-12", (o) => o],
  [
    "NVIDIA, CUDA unknown",
    nvidia(24564, { commands: { "nvidia-smi": "no version here" } }),
    "nvidia",
    (o) => o,
  ],
  [
    "NVIDIA driver without nvidia-smi: VRAM unknown counts as low",
    {
      dirs: { "/proc/driver/nvidia/gpus": ["0000:01:00.0"] },
      files: { "/proc/driver/nvidia/gpus/0000:01:00.0/information": "Model: Tesla T4\n" },
    },
    "default",
    (o) => o,
  ],
  ["AMD with ROCm", { ...drm("0x1002", 16 * GiB), paths: ["/dev/kfd"] }, "amd", (o) => o],
  ["AMD APU with 2 GiB", { ...drm("0x1002", 2 * GiB), paths: ["/dev/kfd"] }, "default", (o) => o],
  ["Intel discrete", drm("0x8086", 16 * GiB), "intel", (o) => o],
  ["Intel integrated (no VRAM)", drm("0x8086"), "default", (o) => o],
  ["AMD card without ROCm: Vulkan", drm("0x1002", 8 * GiB), "vulkan", (o) => o],
  ["NVIDIA card on nouveau: Vulkan", drm("0x10de", 8 * GiB), "vulkan", (o) => o],
];

describe("capability detection (LocalAI keys and order)", () => {
  for (const [what, machine, want, opts] of cases) {
    it(`${what} -> ${want}`, async () => {
      const d = await detectCapability(probe(machine), opts({}));
      expect(d.capability).toBe(want);
      expect(d.reason.length).toBeGreaterThan(0);
    });
  }

  it("reports the GPU: vendor, model, VRAM and CUDA major", async () => {
    const d = await detectCapability(probe(nvidia(24564, { paths: ["/usr/local/cuda-12"] })));
    expect(d.gpu).toEqual({
      vendor: "nvidia",
      model: "NVIDIA RTX A6000",
      vramBytes: 24564 * 1024 ** 2,
      cudaMajor: 12,
    });
    const two = await detectCapability(
      probe({ commands: { [SMI_QUERY]: "A100, 40960\nA100, 40960\n", "nvidia-smi": "CUDA Version: 13.0" } }),
    );
    expect(two.gpu).toMatchObject({ model: "A100 x2", vramBytes: 80 * GiB, cudaMajor: 13 });
    expect(two.capability).toBe("nvidia-cuda-13");
  });

  it("runs nvidia-smi a second time only when no CUDA toolkit says the version", async () => {
    const runs = (m: Machine) => {
      const p = probe(m);
      const seen: string[] = [];
      return {
        probe: {
          ...p,
          run: (cmd: string, args: string[]) => (seen.push([cmd, ...args].join(" ")), p.run(cmd, args)),
        },
        seen,
      };
    };
    const toolkit = runs(nvidia(24564, { paths: ["/usr/local/cuda-12"] }));
    expect((await detectCapability(toolkit.probe)).gpu.cudaMajor).toBe(12);
    expect(toolkit.seen).toEqual([SMI_QUERY]);

    const driverOnly = runs(nvidia(24564));
    expect((await detectCapability(driverOnly.probe)).gpu.cudaMajor).toBe(12);
    expect(driverOnly.seen).toEqual([SMI_QUERY, "nvidia-smi"]);

    const noSmi = runs({ dirs: { "/proc/driver/nvidia/gpus": ["0000:01:00.0"] } });
    expect((await detectCapability(noSmi.probe)).gpu.vendor).toBe("nvidia");
    expect(noSmi.seen).toEqual([SMI_QUERY]);
  });

  it("refuses a forced value that is not a capability key", async () => {
    await expect(detectCapability(probe({}), { forced: "CUDA 12!" })).rejects.toThrow(/not a capability key/);
  });
});
