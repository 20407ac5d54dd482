/** Bytes for messages and logs: `512 B`, `1.5 MiB` (powers of 1024). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Milliseconds as seconds for messages: `2 s`, `0.3 s`. */
export const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
