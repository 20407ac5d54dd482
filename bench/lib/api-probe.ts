/**
 * API requests for bench/rollout while a rollout runs, from a child process (`fork`) so that
 * decoding and validating big replies is not counted in the controller's figures: one client,
 * one request at a time, GAP_MS apart, round robin over nodes.list, ops.list for one node,
 * rollouts.list and rollouts.get.
 *
 * argv: SERVER PREFIX NODE_ID GAP_MS. On {type: "start", rolloutId} it starts; on {type: "stop"}
 * it sends {type: "latency", latency, failures} (milliseconds and error texts by request) and exits.
 */
import { ClusterClient } from "../../src/client/index.js";

const [server, prefix, node, gapArg] = process.argv.slice(2);
const GAP_MS = Number(gapArg);

const client = await ClusterClient.connect({
  servers: [server!],
  prefix: prefix!,
  name: "bench-probe",
  apiTimeoutMs: 120_000,
});
const latency: Record<string, number[]> = {};
const failures: Record<string, string[]> = {};
let probing = false;
let done: Promise<void> = Promise.resolve();

async function probe(rolloutId: string): Promise<void> {
  const requests: Array<[string, () => Promise<unknown>]> = [
    ["nodes.list", () => client.call("nodes.list", {})],
    ["ops.list (one node)", () => client.call("ops.list", { nodeId: node! })],
    ["rollouts.list", () => client.call("rollouts.list", {})],
    ["rollouts.get", () => client.call("rollouts.get", { id: rolloutId })],
  ];
  for (let k = 0; probing; k++) {
    const [name, call] = requests[k % requests.length]!;
    const t0 = performance.now();
    try {
      await call();
      (latency[name] ??= []).push(performance.now() - t0);
    } catch (e) {
      (failures[name] ??= []).push(String(e));
    }
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
}

process.on("message", (m: { type?: string; rolloutId?: string }) => {
  if (m.type === "start" && m.rolloutId) {
    probing = true;
    done = probe(m.rolloutId);
  }
  if (m.type === "stop") {
    probing = false;
    void done
      .then(() => client.close())
      .finally(() => process.send?.({ type: "latency", latency, failures }, () => process.exit(0)));
  }
});
process.send?.({ type: "ready" });
