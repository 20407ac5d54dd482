/** A duration as a reason text reads it: seconds up to two minutes, whole minutes beyond. */
export function roughDuration(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
