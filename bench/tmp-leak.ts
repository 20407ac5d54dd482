import type { FeedEvent } from "../src/client/cluster-feed.js";
import { heartbeat, NODES, ProgressSource, records } from "./lib/synthetic-cluster.js";
import { EventEmitter } from "node:events";
delete process.env.CI; process.env.NODE_ENV = "production";
const { render } = await import("ink");
const { createElement } = await import("react");
const { App } = await import("../src/app.js");
const { FramePacer } = await import("../src/hooks/frame-pacer.js");
const { buildKeymap } = await import("../src/keymap/index.js");
const { createCommandRunner, createDashStore } = await import("../src/store/index.js");
const { defaultPalette } = await import("../src/theme/index.js");
class T extends EventEmitter { isTTY = true; columns = 120; rows = 40; write = () => true; }
class K extends EventEmitter { isTTY = true; p: string | null = null; press(s: string) { this.p = s; this.emit("readable"); } read = () => { const d = this.p; this.p = null; return d; }; setEncoding() {} setRawMode() {} resume() {} pause() {} ref() {} unref() {} }
const store = createDashStore({ context: { name: "b", servers: ["nats://b:4222"] } });
store.setState({ conn: { state: "connected", since: Date.now(), attempts: 0 } });
const ev: FeedEvent[] = [...records(Date.now())].map((r) => ({ kind: r.bucket, key: r.key, value: r.value }) as FeedEvent);
store.getState().actions.applyBatch(ev, ev.length);
const kb = new K();
render(createElement(App, { store, runner: createCommandRunner(store, { call: () => Promise.reject(new Error("x")) }, "b"), keymap: buildKeymap({}, { readOnly: false }), palette: defaultPalette, onQuit: () => {}, pacer: new FramePacer({ maxFps: 15, burst: 2 }) }), { stdout: new T() as unknown as NodeJS.WriteStream, stdin: kb as unknown as NodeJS.ReadStream, maxFps: 15, patchConsole: false, exitOnCtrlC: false });
const view = process.argv[2] ?? "3";
setTimeout(() => kb.press(view), 200);
const progress = new ProgressSource(); let hb = 0;
setInterval(() => { const now = Date.now(); const b: FeedEvent[] = progress.tick(now).map((p) => ({ kind: "progress", key: p.opId, value: p })); for (let n = 0; n < NODES / 20; n++) { const i = hb++ % NODES; b.push({ kind: "heartbeat", key: heartbeat(i, now).nodeId, value: heartbeat(i, now) }); } store.getState().actions.applyBatch(b, b.length); }, 250);
const gc = (globalThis as unknown as { gc: () => void }).gc;
for (const t of [5, 20, 35, 50, 65]) {
  await new Promise((r) => setTimeout(r, t === 5 ? 5000 : 15000));
  gc(); gc();
  process.stderr.write(`t=${t}s heapUsed ${(process.memoryUsage().heapUsed / 1e6).toFixed(1)} MB\n`);
}
process.exit(0);
