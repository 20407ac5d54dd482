import type { Logger } from "../lib/log.js";
import type { OpRecord } from "../protocol/index.js";
import { abortReason, OpRefusedError } from "./errors.js";
import type { BackendStore } from "./generations.js";
import { rfc3339, type InstallObserver, type InstallResult, type Installer } from "./installer.js";

export type OpResult = InstallResult;

export interface ExecutorDeps {
  store: BackendStore;
  installer: Installer;
  log: Logger;
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
        return this.delete(op.backend, ctx);
      case "rollback":
        return this.rollback(op.backend, op.generation, ctx);
    }
  }

  private async install(op: OpRecord, kind: "install" | "upgrade" | "reinstall", ctx: RunContext) {
    const target = op.target;
    if (!target)
      throw new OpRefusedError(`${kind} of ${op.backend} has no target (the controller must resolve it)`);
    const store = this.d.store;
    // Refused before the download: writing the meta is the last step, after the concrete is live.
    if (target.meta) await store.assertMetaWritable(target.meta);
    if (kind === "upgrade") {
      const installed =
        ["concrete", "linked", "legacy"].includes(await store.kind(target.name)) ||
        (!!target.meta && !!(await store.readMeta(target.meta)));
      if (!installed) {
        throw new OpRefusedError(`${op.backend} is not installed on this node; install it first`);
      }
    }
    const result = await this.d.installer.install({
      opId: op.id,
      kind,
      target,
      signal: ctx.signal,
      observe: ctx.observe,
    });
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

  private async delete(name: string, ctx: RunContext): Promise<OpResult> {
    const store = this.d.store;
    await ctx.observe.phase("activating");
    const kind = await store.kind(name);
    if (kind === "meta") {
      const meta = await store.readMeta(name);
      await store.removeMeta(name);
      const concrete = meta?.meta_backend_for;
      if (concrete && (await store.metasPointingAt(concrete)).length === 0) {
        await store.removeConcrete(concrete);
      }
      return { noop: false };
    }
    if (kind === "concrete" || kind === "linked" || kind === "legacy") {
      await store.removeConcrete(name);
      for (const m of await store.metasPointingAt(name)) {
        this.d.log.info("removing a meta pointer left without its concrete", { meta: m, concrete: name });
        await store.removeMeta(m);
      }
      return { noop: false };
    }
    if (kind === "other") throw new OpRefusedError(`${name} in the backends directory is not a backend`);
    return { noop: true };
  }

  private async rollback(name: string, generation: string | undefined, ctx: RunContext): Promise<OpResult> {
    const store = this.d.store;
    const meta = await store.readMeta(name);
    const concrete = meta?.meta_backend_for ?? name;
    await ctx.observe.phase("activating");
    const now = await store.rollback(concrete, generation);
    for (const m of await store.metasPointingAt(concrete)) {
      const md = await store.readMeta(m);
      if (md && md.version !== now.metadata.version) {
        await store.writeMeta({ ...md, meta_backend_for: concrete, version: now.metadata.version });
      }
    }
    return {
      noop: false,
      version: now.metadata.version,
      digest: now.metadata.digest,
      generation: now.generation,
    };
  }
}
