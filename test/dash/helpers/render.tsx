import { EventEmitter } from "node:events";
import { render as inkRender, type Instance } from "ink";
import { Profiler, type ReactElement } from "react";
import type { ApiCaller } from "../../../src/store/cluster-feed.js";
import { App } from "../../../src/app.js";
import type { FramePacer } from "../../../src/app/frame-pacer.js";
import type { KeyOverrides, Keymap } from "../../../src/keymap/index.js";
import {
  createCommandRunner,
  createDashStore,
  type DashStore,
  type RunnerOptions,
  type ViewEntry,
} from "../../../src/store/index.js";
import { monoPalette, type Palette } from "../../../src/theme/index.js";
import { buildKeymap, INTENTS } from "../../../src/views/registry.js";

/** A fake terminal with a size (ink-testing-library's is fixed at 100 columns with no rows). */
class FakeStdout extends EventEmitter {
  frames: string[] = [];
  isTTY = true;
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write = (frame: string) => {
    this.frames.push(frame);
    return true;
  };
}

class FakeStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write(data: string) {
    this.data = data;
    this.emit("readable");
    this.emit("data", data);
  }
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding() {}
  setRawMode() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

/** Key names → the bytes a terminal sends (measured with Ink 6.8, tui-anchors §B.6). */
export const KEY_SEQUENCES: Record<string, string> = {
  enter: "\r",
  esc: "\u001B",
  up: "\u001B[A",
  down: "\u001B[B",
  right: "\u001B[C",
  left: "\u001B[D",
  tab: "\t",
  "shift+tab": "\u001B[Z",
  space: " ",
  backspace: "\u007F",
  pgup: "\u001B[5~",
  pgdn: "\u001B[6~",
  home: "\u001B[H",
  end: "\u001B[F",
  "ctrl+c": "\u0003",
  "ctrl+r": "\u0012",
};

/** Let React and Ink process what was written: event-loop turns, not a timed sleep. */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(() => setTimeout(r, 0)));
}

/** Strip SGR and cursor sequences so assertions read plain text. */
export function plain(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, "");
}

export const noCluster: ApiCaller = {
  call: () => Promise.reject(new Error("no controller in this test")),
};

export interface RenderOptions {
  columns?: number;
  rows?: number;
  store?: DashStore;
  api?: ApiCaller;
  keys?: KeyOverrides;
  readOnly?: boolean;
  palette?: Palette;
  stack?: ViewEntry[];
  /** Called on every React commit of the dashboard tree (a React Profiler around it). */
  onCommit?: () => void;
  /** Draw as the terminal app does: paced, through Ink's log writer (not debug mode). */
  pacer?: FramePacer;
  runner?: RunnerOptions;
}

export interface Rendered {
  store: DashStore;
  keymap: Keymap;
  stdout: FakeStdout;
  instance: Instance;
  quits: number;
  lastFrame(): string;
  /** Type keys by name (`j`, `enter`, `esc`, `ctrl+c`) or text, and let them be processed. */
  press(...keys: string[]): Promise<void>;
  type(text: string): Promise<void>;
  waitForFrame(
    test: string | RegExp | ((frame: string) => boolean),
    what?: string,
    timeoutMs?: number,
  ): Promise<string>;
  resize(columns: number, rows: number): Promise<void>;
  unmount(): void;
}

const mounted: Rendered[] = [];

export function renderDash(o: RenderOptions = {}): Rendered {
  const stdout = new FakeStdout(o.columns ?? 80, o.rows ?? 24);
  const stdin = new FakeStdin();
  const readOnly = o.readOnly ?? false;
  const store =
    o.store ??
    createDashStore({ readOnly, stack: o.stack, context: { name: "test", servers: ["nats://t:4222"] } });
  if (o.store && o.readOnly !== undefined) store.setState({ readOnly });
  const keymap = buildKeymap(o.keys ?? {}, { readOnly: store.getState().readOnly });
  const runner = createCommandRunner(store, o.api ?? noCluster, "test@dash", INTENTS, o.runner);
  const r: Rendered = {
    store,
    keymap,
    stdout,
    quits: 0,
    instance: undefined as unknown as Instance,
    lastFrame: () => plain(stdout.frames.at(-1) ?? ""),
    async press(...keys) {
      for (const k of keys) {
        stdin.write(KEY_SEQUENCES[k] ?? k);
        await settle(k === "esc" ? 4 : 3);
      }
    },
    async type(text) {
      for (const ch of text) {
        stdin.write(ch);
        await settle(2);
      }
    },
    async waitForFrame(test, what, timeoutMs = 5000) {
      const ok = (f: string) =>
        typeof test === "string" ? f.includes(test) : test instanceof RegExp ? test.test(f) : test(f);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const f = r.lastFrame();
        if (ok(f)) return f;
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what ?? String(test)}; last frame:\n${f}`);
        }
        await settle(1);
      }
    },
    async resize(columns, rows) {
      stdout.columns = columns;
      stdout.rows = rows;
      stdout.emit("resize");
      await settle();
    },
    unmount() {
      r.instance.unmount();
    },
  };
  const app = (
    <App
      store={store}
      runner={runner}
      keymap={keymap}
      palette={o.palette ?? monoPalette}
      onQuit={() => {
        r.quits++;
      }}
      pacer={o.pacer}
    />
  );
  r.instance = inkRender(
    o.onCommit ? (
      <Profiler id="dash" onRender={o.onCommit}>
        {app}
      </Profiler>
    ) : (
      app
    ),
    {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      stderr: stdout as unknown as NodeJS.WriteStream,
      debug: o.pacer === undefined,
      maxFps: 15,
      exitOnCtrlC: false,
      patchConsole: false,
    },
  );
  mounted.push(r);
  return r;
}

/** Render any element on a fake terminal of a given size (components without the whole app). */
export function renderElement(
  el: ReactElement,
  columns = 80,
  rows = 24,
): { lastFrame(): string; rerender(el: ReactElement): void; unmount(): void } {
  const stdout = new FakeStdout(columns, rows);
  const stdin = new FakeStdin();
  const inst = inkRender(el, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return {
    lastFrame: () => stdout.frames.at(-1) ?? "",
    rerender: (e) => inst.rerender(e),
    unmount: () => inst.unmount(),
  };
}

export function unmountAll(): void {
  for (const r of mounted.splice(0)) {
    try {
      r.unmount();
    } catch {
      // already unmounted
    }
  }
}
