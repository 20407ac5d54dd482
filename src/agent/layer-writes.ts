/** Every path is remembered exactly up to this many entries of one layer (a few MB). */
const EXACT_PATHS = 65_536;
/** Directories with something written below them, remembered up to this many. */
const DIRS = 65_536;

/**
 * What the layer being extracted has written, for opaque whiteouts (which hide what earlier layers
 * put in a directory, but not what this layer put there). Memory stays bounded however many
 * entries the layer has: past EXACT_PATHS only the directories written into are remembered, and
 * past DIRS nothing more.
 */
export class LayerWrites {
  private exact: Set<string> | null = new Set();
  private dirs: Set<string> | null = new Set();

  /** Record a written path (its components below the root). */
  add(parts: readonly string[]): void {
    if (this.exact) {
      if (this.exact.size < EXACT_PATHS) this.exact.add(parts.join("/"));
      else this.exact = null;
    }
    if (!this.dirs) return;
    // Deepest first: once an ancestor is known, so are the ones above it.
    for (let i = parts.length - 1; i >= 0; i--) {
      const dir = parts.slice(0, i).join("/");
      if (this.dirs.has(dir)) break;
      if (this.dirs.size >= DIRS) {
        this.dirs = null;
        return;
      }
      this.dirs.add(dir);
    }
  }

  /**
   * The names directly in `dir` that this layer has written, or written below; null when that is
   * no longer known (the layer wrote below `dir` past what is remembered).
   */
  namesIn(dir: readonly string[]): Set<string> | null {
    const key = dir.join("/");
    if (this.dirs && !this.dirs.has(key)) return new Set();
    if (!this.exact) return null;
    const prefix = key ? `${key}/` : "";
    const names = new Set<string>();
    for (const p of this.exact) {
      if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/", 1)[0]!);
    }
    return names;
  }
}
