export function percent(done: number, total: number | null | undefined): number | null {
  if (!total || total <= 0) return null;
  return Math.min(100, Math.max(0, Math.floor((done / total) * 100)));
}

/**
 * A progress bar as a plain string of exactly `width` columns: blocks then the percentage
 * ("█████░░░  45%"). An unknown total shows dots and no number, so the bar never invents one.
 */
export function progressBar(done: number, total: number | null | undefined, width: number): string {
  if (width <= 0) return "";
  const pct = percent(done, total);
  if (pct === null) return "·".repeat(Math.max(0, width - 5)).padEnd(width, " ");
  const label = `${pct}%`.padStart(4);
  if (width < 6) return label.slice(-width).padStart(width);
  const barWidth = width - 5;
  const full = Math.round((pct / 100) * barWidth);
  return `${"█".repeat(full)}${"░".repeat(barWidth - full)} ${label}`;
}
