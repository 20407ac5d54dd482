import { Capability, type GpuInfo } from "../protocol/index.js";

/** Everything capability detection looks at, so tests can drive it with fixtures. */
export interface CapabilityProbe {
  platform: string;
  arch: string;
  env(name: string): string | undefined;
  /** File contents, or null when it does not exist or cannot be read. */
  readFile(path: string): Promise<string | null>;
  exists(path: string): Promise<boolean>;
  /** Directory entries, or [] when it does not exist. */
  listDir(path: string): Promise<string[]>;
  /** Stdout of a command, or null when it is missing or fails. */
  run(cmd: string, args: string[]): Promise<string | null>;
  totalMemBytes(): number;
}

export interface Detected {
  capability: string;
  gpu: GpuInfo;
  /** How the capability was decided, for the start-up log. */
  reason: string;
}

export interface DetectOptions {
  /** --capability (or BACKPLANE_CAPABILITY through the flag's env fallback). */
  forced?: string;
  /** File holding a forced capability; default BACKPLANE_CAPABILITY_FILE or /run/backplane/capability. */
  forcedFile?: string;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** LocalAI: a GPU with this much VRAM or less gets the `default` (CPU) builds. */
export const LOW_VRAM_BYTES = 4 * GiB;

const PCI_VENDOR = { nvidia: "0x10de", amd: "0x1002", intel: "0x8086" } as const;

interface GpuFound extends GpuInfo {
  /** A GPU only usable through Vulkan (no vendor compute stack). */
  vulkanOnly?: boolean;
}

const NONE: GpuFound = { vendor: "none", vramBytes: 0 };

async function nvidiaSmi(p: CapabilityProbe): Promise<GpuFound | null> {
  const out = await p.run("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]);
  if (!out) return null;
  const rows = out
    .split("\n")
    .map((l) => l.split(",").map((s) => s.trim()))
    .filter((r) => r.length >= 2 && r[0]);
  if (rows.length === 0) return null;
  const vram = rows.reduce((sum, r) => sum + (Number(r[1]) > 0 ? Number(r[1]) * MiB : 0), 0);
  const model = rows.length > 1 ? `${rows[0]![0]} x${rows.length}` : rows[0]![0];
  return { vendor: "nvidia", model, vramBytes: vram };
}

async function procNvidia(p: CapabilityProbe): Promise<GpuFound | null> {
  const gpus = await p.listDir("/proc/driver/nvidia/gpus");
  if (gpus.length === 0 && !(await p.exists("/proc/driver/nvidia/version"))) return null;
  let model: string | undefined;
  for (const g of gpus) {
    const info = await p.readFile(`/proc/driver/nvidia/gpus/${g}/information`);
    const m = info && /^Model:\s*(.+)$/m.exec(info);
    if (m) {
      model = m[1]!.trim();
      break;
    }
  }
  return { vendor: "nvidia", model, vramBytes: 0 };
}

async function drmCards(p: CapabilityProbe): Promise<Array<{ vendor: string; vram: number }>> {
  const cards = (await p.listDir("/sys/class/drm")).filter((c) => /^card\d+$/.test(c));
  const out: Array<{ vendor: string; vram: number }> = [];
  for (const c of cards) {
    const vendor = (await p.readFile(`/sys/class/drm/${c}/device/vendor`))?.trim().toLowerCase();
    if (!vendor) continue;
    const vram = Number((await p.readFile(`/sys/class/drm/${c}/device/mem_info_vram_total`))?.trim() ?? 0);
    out.push({ vendor, vram: Number.isFinite(vram) ? vram : 0 });
  }
  return out;
}

/**
 * The CUDA major version: an installed toolkit first, else what the driver supports (asked of
 * nvidia-smi only when it answered the GPU query, and no toolkit is installed).
 */
async function installedCudaMajor(p: CapabilityProbe, smiWorks: boolean): Promise<number | undefined> {
  if (await p.exists("/usr/local/cuda-13")) return 13;
  if (await p.exists("/usr/local/cuda-12")) return 12;
  if (!smiWorks) return undefined;
  const m = /CUDA Version:\s*(\d+)/.exec((await p.run("nvidia-smi", [])) ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Find the GPU: NVIDIA's driver, then AMD's ROCm device, then any DRM card by PCI vendor. */
export async function detectGpu(p: CapabilityProbe): Promise<GpuFound> {
  if (p.platform === "darwin") {
    return p.arch === "arm64" ? { vendor: "apple", vramBytes: p.totalMemBytes() } : NONE;
  }
  const smi = await nvidiaSmi(p);
  const nv = smi ?? (await procNvidia(p));
  if (nv) {
    const cudaMajor = await installedCudaMajor(p, smi !== null);
    return cudaMajor ? { ...nv, cudaMajor } : nv;
  }
  if (p.arch === "arm64" && (await p.exists("/etc/nv_tegra_release"))) {
    return { vendor: "nvidia", model: "Jetson", vramBytes: p.totalMemBytes() };
  }
  const cards = await drmCards(p);
  const sum = (vendor: string) => cards.filter((c) => c.vendor === vendor).reduce((s, c) => s + c.vram, 0);
  if (await p.exists("/dev/kfd")) return { vendor: "amd", vramBytes: sum(PCI_VENDOR.amd) };
  if (cards.some((c) => c.vendor === PCI_VENDOR.intel)) {
    return { vendor: "intel", vramBytes: sum(PCI_VENDOR.intel) };
  }
  const other = cards.filter((c) => c.vram > 0);
  if (other.length > 0) {
    // A GPU without its vendor's compute stack (nouveau, amdgpu without ROCm, ...): Vulkan only.
    return {
      vendor: "none",
      model: "vulkan",
      vramBytes: other.reduce((s, c) => s + c.vram, 0),
      vulkanOnly: true,
    };
  }
  return NONE;
}

async function forcedValue(
  p: CapabilityProbe,
  o: DetectOptions,
): Promise<{ value: string; from: string } | null> {
  if (o.forced?.trim()) return { value: o.forced.trim(), from: "--capability" };
  const env = p.env("LOCALAI_FORCE_META_BACKEND_CAPABILITY")?.trim();
  if (env) return { value: env, from: "LOCALAI_FORCE_META_BACKEND_CAPABILITY" };
  const files = [
    o.forcedFile ?? p.env("BACKPLANE_CAPABILITY_FILE") ?? "/run/backplane/capability",
    p.env("LOCALAI_FORCE_META_BACKEND_CAPABILITY_RUN_FILE") ?? "/run/localai/capability",
  ];
  for (const f of files) {
    const v = (await p.readFile(f))?.trim();
    if (v) return { value: v, from: f };
  }
  return null;
}

/**
 * The capability key this node asks the gallery for, with LocalAI's keys and order: a forced value,
 * darwin, Jetson (arm64 + NVIDIA), no GPU or little VRAM, NVIDIA by CUDA major, then the vendor.
 */
export async function detectCapability(p: CapabilityProbe, o: DetectOptions = {}): Promise<Detected> {
  const gpu = await detectGpu(p);
  const { vulkanOnly, ...info } = gpu;
  const forced = await forcedValue(p, o);
  if (forced) {
    const ok = Capability.safeParse(forced.value);
    if (!ok.success) {
      throw new Error(
        `forced capability ${JSON.stringify(forced.value)} from ${forced.from} is not a capability key`,
      );
    }
    return { capability: forced.value, gpu: info, reason: `forced by ${forced.from}` };
  }
  if (p.platform === "darwin") {
    return p.arch === "arm64"
      ? { capability: "metal", gpu: info, reason: "darwin/arm64" }
      : { capability: "darwin-x86", gpu: info, reason: "darwin/amd64" };
  }
  if (p.arch === "arm64" && gpu.vendor === "nvidia") {
    const capability =
      gpu.cudaMajor === 13
        ? "nvidia-l4t-cuda-13"
        : gpu.cudaMajor === 12
          ? "nvidia-l4t-cuda-12"
          : "nvidia-l4t";
    return { capability, gpu: info, reason: "arm64 with an NVIDIA GPU (Jetson)" };
  }
  if (gpu.vendor === "none" && !vulkanOnly) return { capability: "default", gpu: info, reason: "no GPU" };
  if (gpu.vramBytes <= LOW_VRAM_BYTES) {
    const gib = (gpu.vramBytes / GiB).toFixed(1);
    return { capability: "default", gpu: info, reason: `GPU with ${gib} GiB VRAM (<= 4 GiB)` };
  }
  if (gpu.vendor === "nvidia") {
    const capability =
      gpu.cudaMajor === 13 ? "nvidia-cuda-13" : gpu.cudaMajor === 12 ? "nvidia-cuda-12" : "nvidia";
    return { capability, gpu: info, reason: `NVIDIA, CUDA ${gpu.cudaMajor ?? "unknown"}` };
  }
  if (vulkanOnly) return { capability: "vulkan", gpu: info, reason: "GPU without a vendor compute stack" };
  return { capability: gpu.vendor, gpu: info, reason: `${gpu.vendor} GPU` };
}
