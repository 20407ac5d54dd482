import { join } from "node:path";
import { errorMessage, type Logger } from "../lib/log.js";
import type { BackendMetadata, OpHookResult, OpRecord } from "../protocol/index.js";
import { abortReason, HookFailedError, OpRefusedError } from "./errors.js";
import type { BackendStore } from "./generations.js";
import { describeHookFailure, runHook, type HookConfig, type HookEvent } from "./hooks.js";
import { rfc3339, type InstallObserver, type InstallResult, type Installer } from "./installer.js";

export type OpResult = InstallResult;

export interface ExecutorDeps {
  store: BackendStore;
  installer: Installer;
  log: Logger;
  /** --on-activate / --on-delete, run after a change went live on this node. */
  hooks?: HookConfig;
}

export interface RunContext {
  signal: AbortSignal;
  observe: InstallObserver;
}

/** Carries out one op on disk: install/upgrade/reinstall (with meta pointer), delete, rollback. */
export class Executor {
  constructor(private readonly d: ExecutorDeps) {}

  /**
   * Every backend name an op touches, so one lock covers a meta and its concrete: the requested
   * name, the target and meta, a meta's concrete, and the metas pointing at a concrete.
   */
  async lockNames(op: OpRecord): Promise<string[]> {
    const names = new Set<string>([op.backend]);
    if (op.target) {
      names.add(op.target.name);
      if (op.target.meta) names.add(op.target.meta);
    }
    for (const n of [...names]) {
      const meta = await this.d.store.readMeta(n);
      if (meta?.meta_backend_for) names.add(meta.meta_backend_for);
    }
    for (const n of [...names]) for (const m of await this.d.store.metasPointingAt(n)) names.add(m);
    return [...names].sort();
  }

  async run(op: OpRecord, ctx: RunContext): Promise<OpResult> {
    if (ctx.signal.aborted) throw abortReason(ctx.signal);
    switch (op.kind) {
      case "install":
      case "upgrade":
      case "reinstall":
        return this.install(op, op.kind, ctx);
      case "delete":
        return this.delete(op, ctx);
      case "rollback":
        return this.rollback(op, ctx);
    }
  }

  private async install(op: OpRecord, kind: "install" | "upgrade" | "reinstall", ctx: RunContext) {
    const target = op.target;
    if (!target)
      throw new OpRefusedError(`${kind} of ${op.backend} has no target (the controller must resolve it)`);
    const store = this.d.store;
    // Refused before the download: writing the meta is the last step, after the concrete is live.
    if (target.meta) await store.assertMetaWritable(target.meta);
    const before = await this.before(target.name);
    const metaBefore = target.meta ? await store.readMeta(target.meta) : null;
    if (kind === "upgrade") {
      const installed =
        ["concrete", "linked", "legacy"].includes(await store.kind(target.name)) ||
        (!!target.meta && !!(await store.readMeta(target.meta)));
      if (!installed) {
        throw new OpRefusedError(`${op.backend} is not installed on this node; install it first`);
      }
    }
    const installed = await this.d.installer.install({
      opId: op.id,
      kind,
      target,
      signal: ctx.signal,
      observe: ctx.observe,
    });
    const result = await this.writeMetaPointer(target, installed);
    if (result.noop) return result;
    const hook = await this.hook("on-activate", {
      op,
      backend: target.name,
      meta: target.meta,
      version: result.version,
      digest: result.digest,
      previousVersion: before.version ?? op.from?.version,
    });
    if (!hook) return result;
    if (hook.ok || this.d.hooks?.failure !== "rollback") return { ...result, hook };
    const action = await this.undoInstall(target.name, target.meta, before, metaBefore).catch(
      (e: unknown) => `undoing it failed: ${errorMessage(e)}`,
    );
    throw new HookFailedError(`${describeHookFailure(hook, this.d.hooks.timeoutMs)}\n${action}`, {
      ...hook,
      action,
    });
  }

  private async writeMetaPointer(
    target: NonNullable<OpRecord["target"]>,
    result: OpResult,
  ): Promise<OpResult> {
    const store = this.d.store;
    if (!target.meta) return result;
    const current = await store.readMeta(target.meta);
    const unchanged = current?.meta_backend_for === target.name && current.version === result.version;
    if (unchanged && result.noop) return result;
    await store.writeMeta({
      name: target.meta,
      meta_backend_for: target.name,
      gallery_url: target.galleryUrl,
      installed_at: rfc3339(),
      version: result.version,
    });
    return { ...result, noop: false };
  }

  /** What a concrete backend is before an op: whether it is there, its live generation and version. */
  private async before(name: string): Promise<{ present: boolean; generation?: string; version?: string }> {
    const store = this.d.store;
    const kind = await store.kind(name);
    if (kind === "missing" || kind === "other" || kind === "meta") return { present: false };
    const live = await store.live(name);
    return { present: true, generation: live?.generation, version: live?.metadata.version };
  }

  /**
   * --hook-failure rollback after an install: put the generation that was live before back (and
   * the meta pointer as it was); a first install is removed. Returns what was done, for the op.
   */
  private async undoInstall(
    name: string,
    meta: string | undefined,
    before: { present: boolean; generation?: string; version?: string },
    metaBefore: BackendMetadata | null,
  ): Promise<string> {
    const store = this.d.store;
    let action: string;
    if (!before.present) {
      await store.removeConcrete(name);
      action = `${name} was not installed before: the new version was removed`;
    } else {
      const live = await store.live(name);
      const previous = live?.previous[0];
      // A legacy directory had no generation before: the adopted one is the previous.
      if (!previous || (before.generation && previous !== before.generation)) {
        return `the previous version of ${name} is no longer on disk (see --keep-generations): the new version stays live`;
      }
      const now = await store.rollback(name);
      action = `the previous version of ${name} (${now.metadata.version ?? now.generation}) was put back`;
    }
    if (meta) {
      if (metaBefore?.meta_backend_for) {
        await store.writeMeta({ ...metaBefore, meta_backend_for: metaBefore.meta_backend_for });
      } else await store.removeMeta(meta);
    }
    this.d.log.warn("undid an op whose hook failed", { backend: name, action });
    return action;
  }

  /** Run the configured hook for a change that happened; undefined when none is configured. */
  private async hook(
    which: "on-activate" | "on-delete",
    e: Omit<HookEvent, "hook" | "path" | "opId" | "opKind"> & { op: OpRecord },
  ): Promise<OpHookResult | undefined> {
    const cfg = this.d.hooks;
    const command = which === "on-activate" ? cfg?.onActivate : cfg?.onDelete;
    if (!cfg || !command) return undefined;
    const { op, ...rest } = e;
    const store = this.d.store;
    return runHook(
      command,
      { ...rest, hook: which, path: join(store.root, e.backend), opId: op.id, opKind: op.kind },
      cfg,
      store.root,
      this.d.log.child({ opId: op.id }),
    );
  }

  private async delete(op: OpRecord, ctx: RunContext): Promise<OpResult> {
    const result = await this.remove(op.backend, ctx);
    if (result.removed === null) return { noop: true };
    const { backend, meta, previousVersion } = result.removed;
    // Nothing to put back: --hook-failure rollback does not apply to a delete.
    const hook = await this.hook("on-delete", { op, backend, meta, previousVersion });
    return hook ? { noop: false, hook } : { noop: false };
  }

  /** Remove a backend; says which one went (the concrete when it went too) and its last version. */
  private async remove(
    name: string,
    ctx: RunContext,
  ): Promise<{ removed: { backend: string; meta?: string; previousVersion?: string } | null }> {
    const store = this.d.store;
    await ctx.observe.phase("activating");
    const kind = await store.kind(name);
    if (kind === "meta") {
      const meta = await store.readMeta(name);
      await store.removeMeta(name);
      const concrete = meta?.meta_backend_for;
      if (concrete && (await store.metasPointingAt(concrete)).length === 0) {
        const version = (await store.live(concrete))?.metadata.version ?? meta.version;
        await store.removeConcrete(concrete);
        return { removed: { backend: concrete, meta: name, previousVersion: version } };
      }
      return { removed: { backend: name, meta: name, previousVersion: meta?.version } };
    }
    if (kind === "concrete" || kind === "linked" || kind === "legacy") {
      const version = (await store.live(name))?.metadata.version;
      await store.removeConcrete(name);
      for (const m of await store.metasPointingAt(name)) {
        this.d.log.info("removing a meta pointer left without its concrete", { meta: m, concrete: name });
        await store.removeMeta(m);
      }
      return { removed: { backend: name, previousVersion: version } };
    }
    if (kind === "other") throw new OpRefusedError(`${name} in the backends directory is not a backend`);
    return { removed: null };
  }

  private async rollback(op: OpRecord, ctx: RunContext): Promise<OpResult> {
    const store = this.d.store;
    const meta = await store.readMeta(op.backend);
    const concrete = meta?.meta_backend_for ?? op.backend;
    await ctx.observe.phase("activating");
    const previousVersion = (await store.live(concrete))?.metadata.version;
    const now = await store.rollback(concrete, op.generation);
    for (const m of await store.metasPointingAt(concrete)) {
      const md = await store.readMeta(m);
      if (md && md.version !== now.metadata.version) {
        await store.writeMeta({ ...md, meta_backend_for: concrete, version: now.metadata.version });
      }
    }
    const result: OpResult = {
      noop: false,
      version: now.metadata.version,
      digest: now.metadata.digest,
      generation: now.generation,
    };
    // The version rolled back from is gone: --hook-failure rollback has nothing to put back here.
    const hook = await this.hook("on-activate", {
      op,
      backend: concrete,
      meta: meta ? op.backend : undefined,
      version: now.metadata.version,
      digest: now.metadata.digest,
      previousVersion,
    });
    return hook ? { ...result, hook } : result;
  }
}
