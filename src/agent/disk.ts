import { statfs } from "node:fs/promises";
import { formatBytes } from "../lib/human.js";
import { OpRefusedError } from "./errors.js";

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** Free (for unprivileged users) and total bytes of the filesystem holding `path`. */
export async function diskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

export interface DiskWatch {
  /** The directory whose filesystem is written (the backends dir). */
  root: string;
  /** Free space that must remain. */
  marginBytes: number;
  freeBytes(path: string): Promise<number>;
}

/** Free space is measured again after this many bytes (between, it is estimated). */
const RECHECK_BYTES = 16 * 1024 * 1024;

/**
 * Free space watched as an install writes: every byte about to be written is counted against the
 * last measurement, which is renewed every 16 MiB and whenever the estimate says the margin is
 * reached; the install stops before the filesystem drops below the margin. (The check before a
 * download only knows the compressed size: a decompression bomb is caught here.)
 */
export class DiskGuard {
  private written = 0;
  private measuredAt = 0;

  constructor(
    private readonly w: DiskWatch,
    /** Free bytes when nothing had been written yet. */
    private free: number,
  ) {}

  /** Count `n` bytes about to be written; throws if they would leave less than the margin. */
  async reserve(n: number): Promise<void> {
    const before = this.written;
    this.written += n;
    const estimate = this.free - (this.written - this.measuredAt);
    if (estimate >= this.w.marginBytes && this.written - this.measuredAt < RECHECK_BYTES) return;
    this.free = await this.w.freeBytes(this.w.root);
    this.measuredAt = before;
    if (this.free - n < this.w.marginBytes) {
      throw new OpRefusedError(
        `not enough free disk in ${this.w.root}: stopped after writing ${formatBytes(before)}, ` +
          `${formatBytes(this.free)} free and the next ${formatBytes(n)} would leave less than the ` +
          `${formatBytes(this.w.marginBytes)} margin`,
      );
    }
  }
}
