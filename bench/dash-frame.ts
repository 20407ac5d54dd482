/**
 * What one dashboard frame costs, in process and without NATS: the real <App> and store, seeded
 * with the synthetic cluster (500 nodes × 30 backends, 100 running ops), drawn by Ink into a
 * 120×40 fake terminal. Prints the time Ink spends turning the tree into text per frame, and the
 * time from a key press to the frame that shows it — idle, then with the progress feed (100 ops ×
 * 4/s, delivered as the client's coalescer would: one batch every 250 ms) and heartbeats running.
 * `bench/dash-load.ts` measures the same through NATS and a pty; this one isolates rendering.
 *
 *   npx tsx bench/dash-frame.ts
 */
import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import type { FeedEvent } from "../src/store/cluster-feed.js";
import { lineWriter, pct } from "./lib/report.js";
import { heartbeat, NODES, nodeId, ProgressSource, records } from "./lib/synthetic-cluster.js";

const COLS = 120;
const ROWS = 40;
const SAMPLES = 60;

// Ink renders nothing until exit under CI, and React's development build is several times slower.
delete process.env.CI;
process.env.NODE_ENV = "production";
const { render } = await import("ink");
const { createElement } = await import("react");
const { App } = await import("../src/app.js");
const { FramePacer } = await import("../src/app/frame-pacer.js");
const { buildKeymap, INTENTS } = await import("../src/views/registry.js");
const { createCommandRunner, createDashStore } = await import("../src/store/index.js");
const { defaultPalette } = await import("../src/theme/index.js");

class Terminal extends EventEmitter {
  readonly isTTY = true;
  readonly columns = COLS;
  readonly rows = ROWS;
  private waiter: { text: string; resolve: (at: number) => void } | null = null;
  write = (s: string): boolean => {
    const w = this.waiter;
    if (w && s.includes(w.text)) {
      this.waiter = null;
      w.resolve(performance.now());
    }
    return true;
  };
  waitFor(text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${text}" drawn within 5 s`)), 5_000);
      this.waiter = {
        text,
        resolve: (at) => {
          clearTimeout(t);
          resolve(at);
        },
      };
    });
  }
}

class Keyboard extends EventEmitter {
  readonly isTTY = true;
  private pending: string | null = null;
  press(s: string): void {
    this.pending = s;
    this.emit("readable");
  }
  read = (): string | null => {
    const d = this.pending;
    this.pending = null;
    return d;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(1)} ms, p95 ${pct(s, 95).toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms (${s.length})`;
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const store = createDashStore({ context: { name: "bench", servers: ["nats://bench:4222"] } });
const { actions } = store.getState();
store.setState({ conn: { state: "connected", since: Date.now(), attempts: 0, server: "nats://bench:4222" } });
const at = Date.now();
const events: FeedEvent[] = [...records(at)].map(
  (r) => ({ kind: r.bucket, key: r.key, value: r.value }) as FeedEvent,
);
for (const bucket of ["nodes", "inventory", "ops", "upgrades", "settings"] as const) {
  events.push({
    kind: "ready",
    key: bucket,
    keys: events.filter((e) => e.kind === bucket).map((e) => e.key),
  });
}
actions.applyBatch(events, events.length);

const term = new Terminal();
const keyboard = new Keyboard();
const inkTimes: number[] = [];
const keymap = buildKeymap({}, { readOnly: false });
const runner = createCommandRunner(
  store,
  { call: () => Promise.reject(new Error("no cluster")) },
  "bench",
  INTENTS,
);
const instance = render(
  createElement(App, {
    store,
    runner,
    keymap,
    palette: defaultPalette,
    onQuit: () => instance.unmount(),
    pacer: new FramePacer({ maxFps: 15, burst: 2 }),
  }),
  {
    stdout: term as unknown as NodeJS.WriteStream,
    stdin: keyboard as unknown as NodeJS.ReadStream,
    maxFps: 15,
    exitOnCtrlC: false,
    patchConsole: false,
    onRender: ({ renderTime }) => inkTimes.push(renderTime),
  },
);

async function keyToFrame(samples: number): Promise<number[]> {
  const lat: number[] = [];
  let view: "1" | "3" = "3";
  for (let i = 0; i < samples; i++) {
    const seen = term.waitFor(view === "1" ? "Nodes [" : "Operations [");
    const t = performance.now();
    keyboard.press(view);
    lat.push((await seen) - t);
    view = view === "1" ? "3" : "1";
    await pause(150 + Math.random() * 150);
  }
  return lat;
}

await pause(500);
inkTimes.length = 0;
const idle = await keyToFrame(SAMPLES);
const idleInk = [...inkTimes];

const progress = new ProgressSource();
let hb = 0;
const feed = setInterval(() => {
  const now = Date.now();
  const batch: FeedEvent[] = progress.tick(now).map((p) => ({ kind: "progress", key: p.opId, value: p }));
  for (let n = 0; n < NODES / 20; n++) {
    const i = hb++ % NODES;
    batch.push({ kind: "heartbeat", key: nodeId(i), value: heartbeat(i, now) });
  }
  actions.applyBatch(batch, batch.length);
}, 250);
inkTimes.length = 0;
const loaded = await keyToFrame(SAMPLES);
clearInterval(feed);
const loadedInk = [...inkTimes];
instance.unmount();

const line = lineWriter(40);
process.stdout.write(`\ndashboard frames in process: ${NODES} nodes, ${COLS}×${ROWS}, Nodes ⇄ Operations\n`);
line("Ink frame build, idle", summary(idleInk));
line("key to frame, idle", summary(idle));
line("Ink frame build, progress feed on", summary(loadedInk));
line("key to frame, progress feed on", summary(loaded));
