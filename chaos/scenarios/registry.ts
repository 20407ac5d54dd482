/**
 * registry: installs from a registry behind a fault proxy that hangs mid-blob, never answers a
 * manifest, throttles (429 and 503 with Retry-After) or fails (500 once, 500 always). Each case
 * runs on its own agent at once; the figure is the outcome and the time to a clear verdict, bounded.
 * What is wanted: a throttle or a single 500 is waited out and the install succeeds; a blob that
 * stalls halfway is resumed until it is whole; a registry that never sends, or keeps failing, ends
 * the op failed with a reason naming it, well within the bound, and no staging is left.
 */
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterClient } from "../../src/client/index.js";
import { isTerminal } from "../../src/protocol/index.js";
import { opRecord, submit } from "../../test/agent/helpers.js";
import { NatsServer } from "../../test/harness/nats-server.js";
import { pushBackendImage } from "../../test/harness/oci-image.js";
import { removeDir, tempDir } from "../../test/harness/proc.js";
import { Registry } from "../../test/harness/registry.js";
import { FaultProxy, type Fault } from "../lib/fault-proxy.js";
import type { Scenario, ScenarioOptions, ScenarioResult } from "../lib/outcome.js";
import { connectClient, Procs, secs, waitFor } from "../lib/procs.js";

interface Case {
  name: string;
  fault: Fault;
  want: "succeeded" | "failed";
}

const CASES: Case[] = [
  // Each stall ends an attempt and the next resumes where it stopped (Range), so it gets there.
  { name: "hang-blob", fault: { kind: "hang-blob" }, want: "succeeded" },
  { name: "dead-blob", fault: { kind: "dead-blob" }, want: "failed" },
  { name: "hang-manifest", fault: { kind: "hang-manifest" }, want: "failed" },
  {
    name: "throttle-429",
    fault: { kind: "status", on: "manifest", status: 429, times: 2, retryAfterS: 1 },
    want: "succeeded",
  },
  {
    name: "throttle-503",
    fault: { kind: "status", on: "blob", status: 503, times: 1, retryAfterS: 2 },
    want: "succeeded",
  },
  {
    name: "fail-500-once",
    fault: { kind: "status", on: "manifest", status: 500, times: 1 },
    want: "succeeded",
  },
  { name: "fail-500", fault: { kind: "status", on: "blob", status: 500, times: Infinity }, want: "failed" },
];

async function run(o: ScenarioOptions): Promise<ScenarioResult> {
  const bound = o.smoke ? 20_000 : 60_000;
  const log = o.log ?? (() => {});
  const procs = new Procs();
  const [nats, registry, dir] = await Promise.all([
    NatsServer.start(),
    Registry.start(),
    tempDir("chaos-registry"),
  ]);
  let client: ClusterClient | undefined;
  let proxy: FaultProxy | undefined;
  const rows: Array<[string, string]> = [];
  const notes: string[] = [];
  let unwanted = 0;
  let noVerdict = 0;
  try {
    const faults = Object.fromEntries(CASES.map((c) => [`chaos/${c.name}`, c.fault]));
    proxy = await FaultProxy.start(registry.host, faults);
    const px = proxy;
    client = await connectClient([nats.url]);
    const cl = client;
    // Started one after the other (six node processes starting at once crowd two cores), then run at once.
    // Stall and registry timeouts shorter than the defaults (30 s each, three attempts) so that a
    // hang reaches its verdict within the bound; what is measured is that it does, and says why.
    for (const c of CASES) {
      await procs.agent({
        nodeId: c.name,
        servers: [nats.url],
        backendsDir: join(dir, c.name),
        extra: ["--stall-timeout", "5s", "--registry-timeout", "10s"],
      });
    }
    const outcomes = await Promise.all(
      CASES.map(async (c) => {
        const img = await pushBackendImage(registry, `chaos/${c.name}`, "1", {
          files: { "payload.bin": randomBytes(2_000_000) },
        });
        const uri = img.ref.replace(registry.host, px.host);
        const root = join(dir, c.name);
        const started = Date.now();
        const opId = await submit(cl, { nodeId: c.name, kind: "install", backend: "b", target: { uri } });
        const end = await waitFor(
          `${c.name} verdict`,
          async () => {
            const r = await opRecord(cl, c.name, opId);
            return r && isTerminal(r.state) ? r : null;
          },
          bound,
          100,
        ).catch(() => null);
        const took = Date.now() - started;
        // Staging counts once the op has ended: an op still running has its download there.
        const staging = end ? await readdir(join(root, ".staging")).catch(() => []) : [];
        return { c, end, took, staging };
      }),
    );
    for (const { c, end, took, staging } of outcomes) {
      const verdict = end
        ? `${end.state} after ${secs(took)} (${end.attempts} attempts)`
        : `no verdict within ${secs(bound)}`;
      const ok = end?.state === c.want;
      if (!end) noVerdict++;
      if (!ok) unwanted++;
      rows.push([
        c.name,
        `${verdict}${staging.length ? `, ${staging.length} staging left` : ""}; wanted ${c.want}${ok ? "" : " ✗"}`,
      ]);
      if (end?.error) notes.push(`${c.name}: "${end.error}"`);
      log(`registry: ${c.name}: ${verdict}`);
    }
  } finally {
    await procs.stopAll();
    await client?.close();
    await proxy?.close();
    await Promise.all([nats.dispose(), registry.dispose()]);
    await removeDir(dir);
  }
  return {
    name: "registry",
    title: "installs from a hung, throttling and failing registry (fault proxy)",
    rows: [...rows, ["cases as wanted", `${CASES.length - unwanted}/${CASES.length}`]],
    summary:
      `hung, throttling and failing registry: ${CASES.length - unwanted}/${CASES.length} cases ended as wanted, ` +
      `${noVerdict} without a verdict within ${secs(bound)}`,
    // Not an invariant of `make chaos` yet (issue 13 item 3 is under way): reported, not enforced.
    invariants: {},
    notes,
  };
}

export const registryFaults: Scenario = {
  name: "registry",
  proves:
    "a registry that hangs, throttles or fails yields a clear verdict in bounded time; throttles and single errors are waited out",
  run,
};
