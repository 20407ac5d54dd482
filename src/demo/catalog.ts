import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

/** One concrete build the demo publishes: `<registry>/local-ai-backends:<tag>`. */
export interface DemoBuild {
  name: string;
  tag: string;
  version: string;
  /** A broken build: its server accepts LocalAI's Health call and never answers. */
  neverAnswers?: boolean;
}

/** Six synthetic backends shaped like LocalAI's gallery: metas with per-capability builds and dev twins. */
export const DEMO_METAS: Record<string, { description: string; capabilities: Record<string, string> }> = {
  "llama-cpp": {
    description: "LLM inference in C/C++ (synthetic demo build)",
    capabilities: { default: "cpu-llama-cpp", "nvidia-cuda-12": "cuda12-llama-cpp", amd: "rocm-llama-cpp" },
  },
  "llama-cpp-development": {
    description: "llama.cpp, development builds (synthetic)",
    capabilities: { default: "cpu-llama-cpp-development", "nvidia-cuda-12": "cuda12-llama-cpp-development" },
  },
  whisper: {
    description: "Speech to text (synthetic demo build)",
    capabilities: { default: "cpu-whisper", "nvidia-cuda-12": "cuda12-whisper" },
  },
  stablediffusion: {
    description: "Image generation, NVIDIA only (synthetic)",
    capabilities: { "nvidia-cuda-12": "cuda12-stablediffusion" },
  },
};

const CONCRETES = [
  "cpu-llama-cpp",
  "cuda12-llama-cpp",
  "rocm-llama-cpp",
  "cpu-llama-cpp-development",
  "cuda12-llama-cpp-development",
  "cpu-whisper",
  "cuda12-whisper",
  "cuda12-stablediffusion",
  "piper",
  "silero-vad",
];

/**
 * Backends whose new builds appear ~30 s into the demo: every build of llama-cpp, so that `u` on
 * it starts a rollout over all four nodes in three waves (1, 2 and 4 nodes by the default
 * strategy), and piper.
 */
export const DEMO_UPGRADED = ["cuda12-llama-cpp", "rocm-llama-cpp", "cpu-llama-cpp", "piper"];
/** Of those, the new build that never answers its health probe: its upgrade fails, the old stays. */
export const DEMO_BROKEN = "piper";

export function tagFor(name: string): string {
  const dev = name.endsWith("-development");
  return `${dev ? "master" : "latest"}-${name.replace(/-development$/, "")}`;
}

export function initialBuilds(): DemoBuild[] {
  return CONCRETES.map((name) => ({ name, tag: tagFor(name), version: "1.0.0" }));
}

/** The demo backends' gRPC server (compiled), found from src/ too when the tests run there. */
function serverScript(): string {
  const beside = fileURLToPath(new URL("./backend-server.js", import.meta.url));
  return existsSync(beside)
    ? beside
    : fileURLToPath(new URL("../../dist/demo/backend-server.js", import.meta.url));
}

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Write a backend directory: a run.sh that starts a gRPC server answering LocalAI's Health (so
 * the agent's probe passes, or never gets an answer for a broken build) and `payloadBytes` of
 * incompressible payload.
 */
export async function writeBackendDir(root: string, b: DemoBuild, payloadBytes: number): Promise<string> {
  const dir = join(root, `${b.name}-${b.version}`);
  await mkdir(join(dir, "lib"), { recursive: true });
  const args = ["--name", b.name, "--version", b.version, ...(b.neverAnswers ? ["--never-answer"] : [])];
  await writeFile(
    join(dir, "run.sh"),
    `#!/bin/sh\n# ${b.name} ${b.version} (backplane demo backend): run.sh --addr HOST:PORT, as LocalAI starts it\n` +
      `exec ${[process.execPath, serverScript(), ...args].map(shQuote).join(" ")} "$@"\n`,
  );
  await chmod(join(dir, "run.sh"), 0o755);
  await writeFile(join(dir, "lib", "runtime.bin"), randomBytes(payloadBytes));
  await writeFile(join(dir, "VERSION"), `${b.version}\n`);
  return dir;
}

const ALIAS: Record<string, string> = {
  "cpu-llama-cpp": "llama-cpp",
  "cuda12-llama-cpp": "llama-cpp",
  "rocm-llama-cpp": "llama-cpp",
  "cpu-llama-cpp-development": "llama-cpp",
  "cuda12-llama-cpp-development": "llama-cpp",
  "cpu-whisper": "whisper",
  "cuda12-whisper": "whisper",
  "cuda12-stablediffusion": "stablediffusion",
};

/**
 * The gallery in LocalAI's `index.yaml` format: metas first, as anchors; concretes merge their
 * meta (`<<: *anchor`) and add `name`, `uri`, `version`.
 */
export function galleryYaml(registry: string, builds: DemoBuild[]): string {
  const anchors = Object.keys(DEMO_METAS).map((m) => m.replace(/[^a-z0-9]/g, ""));
  const lines: string[] = ["---", "## metas"];
  Object.entries(DEMO_METAS).forEach(([name, meta], i) => {
    lines.push(`- &${anchors[i]}`);
    const body = stringify({
      name,
      alias: name.replace(/-development$/, ""),
      description: meta.description,
      capabilities: meta.capabilities,
    });
    lines.push(
      ...body
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  });
  lines.push("## builds");
  for (const b of builds) {
    const alias = ALIAS[b.name];
    const metaName =
      alias &&
      Object.keys(DEMO_METAS).find(
        (m) => m === (b.name.endsWith("-development") ? `${alias}-development` : alias),
      );
    const anchor = metaName ? anchors[Object.keys(DEMO_METAS).indexOf(metaName)] : undefined;
    lines.push(anchor ? `- !!merge <<: *${anchor}` : "-");
    const entry: Record<string, string> = {
      name: b.name,
      uri: `${registry}/local-ai-backends:${b.tag}`,
      version: b.version,
    };
    if (!anchor) entry.description = `${b.name} (synthetic demo build)`;
    lines.push(
      ...stringify(entry)
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  }
  return lines.join("\n") + "\n";
}
