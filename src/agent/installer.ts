import { readdir, rename, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, type Logger } from "../lib/log.js";
import type { BackendMetadata, InstallTarget, OpHookResult, Phase } from "../protocol/index.js";
import { formatBytes } from "../lib/human.js";
import { abortReason, isFatal, OpRefusedError, ProbeFailedError, StaleCacheError } from "./errors.js";
import { extractState, type ExtractLimits } from "./extract.js";
import type { BackendStore, LiveBackend } from "./generations.js";
import type { AgentMetrics } from "./metrics.js";
import { probeBackend, type ProbeConfig, type ProbeOutcome } from "./probe.js";
import { candidates, sourceFor, type Resolved, type SourceDeps } from "./sources/index.js";

export interface InstallerDeps {
  store: BackendStore;
  sources: SourceDeps;
  limits: ExtractLimits;
  /** Free space kept on top of twice the download size. */
  diskMarginBytes: number;
  freeBytes(path: string): Promise<number>;
  /** Health probe of each new version before it goes live; default none. */
  probe?: ProbeConfig;
  log: Logger;
  metrics?: AgentMetrics;
}

/** What the installer reports back while it works. */
export interface InstallObserver {
  /** A phase begins; may throw to stop the op (the record says cancelling). */
  phase(p: Phase, bytesTotal?: number): Promise<void>;
  total(bytes: number | null): void;
  newAttempt(): void;
  /** `n` more bytes of content; `cached` when read from the blob cache rather than downloaded. */
  bytes(n: number, cached?: boolean): void;
}

export interface InstallJob {
  opId: string;
  kind: "install" | "upgrade" | "reinstall";
  target: InstallTarget;
  signal: AbortSignal;
  observe: InstallObserver;
}

export interface InstallResult {
  version?: string;
  digest?: string;
  generation?: string;
  noop: boolean;
  probe?: ProbeOutcome;
  hook?: OpHookResult;
}

/** RFC 3339 without fractions, as LocalAI's Go writes `installed_at`. */
export const rfc3339 = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

function sameAsLive(live: LiveBackend, uri: string, digest: string | undefined, version: string | undefined) {
  const md = live.metadata;
  if (digest) return md.digest === digest && (md.version ?? "") === (version ?? "");
  return !!version && md.version === version && md.uri === uri;
}

/**
 * Install, upgrade or reinstall one concrete backend: try each source in order, stream it into a
 * fresh staging dir, validate, and commit it as a new generation. Anything that fails before the
 * final rename leaves the previous generation live and removes the staging dir.
 */
export class Installer {
  constructor(private readonly d: InstallerDeps) {}

  async install(job: InstallJob): Promise<InstallResult> {
    const { target, signal, observe } = job;
    const store = this.d.store;
    const live = await store.live(target.name);
    const errors: string[] = [];
    const uris = candidates(target);
    for (const uri of uris) {
      if (signal.aborted) throw abortReason(signal);
      await observe.phase("resolving");
      let resolved: Resolved;
      try {
        resolved = await sourceFor(uri, target.sha256, this.d.sources).resolve(signal);
      } catch (e) {
        if (signal.aborted) throw abortReason(signal);
        this.d.log.warn("source did not answer", { uri, error: errorMessage(e) });
        errors.push(`${uri}: ${errorMessage(e)}`);
        continue;
      }
      const version = target.version ?? resolved.version;
      if (job.kind !== "reinstall" && live && sameAsLive(live, resolved.uri, resolved.digest, version)) {
        return this.noop(target.name, live);
      }
      await this.checkDisk(resolved.totalBytes, resolved.blobs);
      try {
        try {
          return await this.fetchAndCommit(job, resolved, live, version);
        } catch (e) {
          if (!(e instanceof StaleCacheError)) throw e;
          // The cache entry is gone now: this time the layer comes from the registry.
          this.d.log.warn("a cached layer was not valid; fetching it again", {
            uri,
            error: errorMessage(e.cause),
          });
          return await this.fetchAndCommit(job, resolved, live, version);
        }
      } catch (e) {
        if (signal.aborted) throw abortReason(signal);
        if (isFatal(e)) throw e;
        this.d.log.warn("source failed", { uri, error: errorMessage(e) });
        errors.push(`${uri}: ${errorMessage(e)}`);
      }
    }
    throw new Error(
      uris.length === 1 ? (errors[0] ?? "no source") : `every source failed: ${errors.join("; ")}`,
    );
  }

  /**
   * Already live: nothing to install, but old generations are collected all the same (a kill
   * between activation and clean-up, then this retry, would otherwise keep one too many).
   */
  private async noop(name: string, live: LiveBackend): Promise<InstallResult> {
    await this.d.store
      .collect(name)
      .catch((e) => this.d.log.warn("old generations not collected", { name, error: errorMessage(e) }));
    return {
      noop: true,
      version: live.metadata.version,
      digest: live.metadata.digest,
      generation: live.generation,
    };
  }

  private async checkDisk(total: number | null, layers: readonly string[] = []): Promise<void> {
    let free = await this.d.freeBytes(this.d.store.root);
    const need = 2 * (total ?? 0) + this.d.diskMarginBytes;
    // Cached layers of other images are the first thing to give up (this image's are kept).
    const blobs = this.d.sources.blobs;
    if (free < need && blobs && (await blobs.shrink(need - free, layers)) > 0) {
      free = await this.d.freeBytes(this.d.store.root);
    }
    if (free < need) {
      const why =
        total === null
          ? `a ${formatBytes(this.d.diskMarginBytes)} margin (download size unknown)`
          : `twice the ${formatBytes(total)} download plus a ${formatBytes(this.d.diskMarginBytes)} margin`;
      throw new OpRefusedError(
        `not enough free disk in ${this.d.store.root}: ${formatBytes(free)} free, need ${formatBytes(need)} (${why})`,
      );
    }
  }

  /** The health probe, timed and counted (a cancel is neither a pass nor a failure). */
  private async probe(dir: string, cfg: ProbeConfig, signal: AbortSignal, backend: string) {
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    const m = this.d.metrics;
    try {
      const outcome = await probeBackend(dir, cfg, signal, this.d.log.child({ backend }));
      m?.probeDuration.observe({ mode: cfg.mode, result: "passed" }, seconds());
      return outcome;
    } catch (e) {
      if (e instanceof ProbeFailedError) {
        m?.probeDuration.observe({ mode: cfg.mode, result: "failed" }, seconds());
        m?.probeFailures.inc({ mode: cfg.mode });
      }
      throw e;
    }
  }

  /** A tarball with everything under one top directory: that directory is the backend. */
  private async hoist(staging: string): Promise<string> {
    if (await stat(join(staging, "run.sh")).catch(() => null)) return staging;
    const entries = await readdir(staging, { withFileTypes: true });
    const only = entries[0];
    if (entries.length !== 1 || !only?.isDirectory()) return staging;
    if (!(await stat(join(staging, only.name, "run.sh")).catch(() => null))) return staging;
    const hoisted = `${staging}-root`;
    await rename(join(staging, only.name), hoisted);
    await rmdir(staging);
    return hoisted;
  }

  private async fetchAndCommit(
    job: InstallJob,
    resolved: Resolved,
    live: LiveBackend | null,
    version: string | undefined,
  ): Promise<InstallResult> {
    const { target, signal, observe } = job;
    const store = this.d.store;
    let staging = await store.createStaging(job.opId);
    try {
      observe.newAttempt();
      observe.total(resolved.totalBytes);
      await observe.phase("downloading", resolved.totalBytes ?? undefined);
      const fetched = await resolved.fetch({
        signal,
        staging,
        onBytes: (n, cached) => observe.bytes(n, cached),
        state: await extractState(this.d.limits, {
          root: store.root,
          marginBytes: this.d.diskMarginBytes,
          freeBytes: this.d.freeBytes,
        }),
        layerDone: () => store.flushEarly(staging),
      });
      const digest = resolved.digest ?? fetched.digest;
      await observe.phase("verifying");
      staging = await this.hoist(staging);
      if (job.kind !== "reinstall" && live && sameAsLive(live, resolved.uri, digest, version)) {
        await store.trash(staging);
        return await this.noop(target.name, live);
      }
      const metadata: BackendMetadata = {
        name: target.name,
        alias: target.alias,
        gallery_url: target.galleryUrl,
        installed_at: rfc3339(),
        version,
        uri: resolved.uri,
        digest,
      };
      const probeConfig = this.d.probe ?? { mode: "none", timeoutMs: 0 };
      let probe: ProbeOutcome = { mode: "none", ran: false, durationMs: 0 };
      const { generation } = await store.commit(target.name, staging, metadata, {
        phase: async (p) => {
          if (signal.aborted) throw abortReason(signal);
          await observe.phase(p);
        },
        probe:
          probeConfig.mode === "none"
            ? undefined
            : async (dir) => {
                probe = await this.probe(dir, probeConfig, signal, target.name);
              },
      });
      return { noop: false, version, digest, generation, probe };
    } catch (e) {
      await store.trash(staging).catch(() => {});
      throw e;
    }
  }
}
