/** Small helpers the dashboard benchmarks share for their printed figures. */

/** The p-th percentile of ascending `sorted` (nearest rank below). */
export function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Prints `label value` lines with the labels padded to `width`, so the values line up. */
export function lineWriter(width: number): (label: string, value: string) => void {
  return (label, value) => process.stdout.write(`${label.padEnd(width)} ${value}\n`);
}
