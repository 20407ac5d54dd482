/**
 * Capability rules, as LocalAI applies them (localai-notes §4.6): which key of a meta's
 * capability map a node gets, and whether a concrete build can run on a node at all.
 */

export type CapabilityPick = { ok: true; key: string } | { ok: false; error: string };

/** Exact key, else `default`, else `cpu`, else an error naming what is missing. */
export function pickCapabilityKey(map: Record<string, string>, capability: string): CapabilityPick {
  if (Object.hasOwn(map, capability)) return { ok: true, key: capability };
  if (Object.hasOwn(map, "default")) return { ok: true, key: "default" };
  if (Object.hasOwn(map, "cpu")) return { ok: true, key: "cpu" };
  const keys = Object.keys(map).sort().join(", ") || "none";
  return {
    ok: false,
    error: `no build for capability ${capability} (and no default or cpu build); it has: ${keys}`,
  };
}

export type Compatibility = { ok: true } | { ok: false; needs: string };

/**
 * Substring tests on `name + uri`, in LocalAI's order: the first family that matches decides.
 * Everything else (cpu, vulkan, generic builds) runs anywhere.
 */
export function concreteCompatibility(
  name: string,
  uri: string | undefined,
  capability: string,
): Compatibility {
  const s = `${name} ${uri ?? ""}`.toLowerCase();
  const has = (...words: string[]) => words.some((w) => s.includes(w));
  if (has("darwin", "mlx", "metal")) {
    return capability.startsWith("metal") || capability === "darwin-x86"
      ? { ok: true }
      : { ok: false, needs: "a metal (macOS) node" };
  }
  if (has("l4t")) {
    return capability.startsWith("nvidia-l4t")
      ? { ok: true }
      : { ok: false, needs: "an nvidia-l4t (Jetson) node" };
  }
  if (has("cuda", "nvidia")) {
    return capability.startsWith("nvidia") ? { ok: true } : { ok: false, needs: "an nvidia node" };
  }
  if (has("rocm", "hip", "amd")) {
    return capability === "amd" ? { ok: true } : { ok: false, needs: "an amd node" };
  }
  if (has("sycl", "intel")) {
    return capability === "intel" ? { ok: true } : { ok: false, needs: "an intel node" };
  }
  return { ok: true };
}

/**
 * The build token a node prefers among several concretes sharing an alias (LocalAI's alias
 * resolution, §4.5): first token found in a candidate's name wins.
 */
export function preferredBuildTokens(capability: string): string[] {
  if (capability.startsWith("nvidia")) return ["cuda", "vulkan", "cpu"];
  if (capability === "amd") return ["rocm", "hip", "vulkan", "cpu"];
  if (capability === "intel") return ["sycl", "intel", "cpu"];
  if (capability.startsWith("metal")) return ["metal", "cpu"];
  if (capability === "darwin-x86") return ["darwin-x86", "cpu"];
  if (capability === "vulkan") return ["vulkan", "cpu"];
  return ["cpu"];
}
