import { render, type Instance } from "ink";
import { App } from "../app.js";
import { ClusterClient, type ClusterClientOptions } from "../client/cluster-client.js";
import { startClusterFeed } from "../store/cluster-feed.js";
import { FramePacer } from "../app/frame-pacer.js";
import type { Keymap } from "../keymap/keymap.js";
import { createCommandRunner, createDashStore, type ContextInfo } from "../store/index.js";
import type { Palette } from "../theme/tokens.js";
import { INTENTS } from "../views/registry.js";

const ENTER = "\u001B[?1049h\u001B[H\u001B[2J\u001B[?25l";
const LEAVE = "\u001B[?25h\u001B[?1049l";
/** An event storm costs at most this many frames a second. */
const MAX_FPS = 15;

export interface DashboardOptions {
  client: ClusterClientOptions;
  context: ContextInfo;
  keymap: Keymap;
  palette: Palette;
  actor: string;
  keepFinishedMs?: number;
}

/**
 * Run the dashboard in the alternate screen until `q`. Ink 6 has no alternate-screen option, so
 * the screen is entered here and left from every exit path: quit, a signal, an uncaught error,
 * and process exit as the last resort.
 */
export async function runDashboard(o: DashboardOptions): Promise<number> {
  const out = process.stdout;
  let inScreen = false;
  let instance: Instance | undefined;
  const leave = () => {
    if (!inScreen) return;
    inScreen = false;
    try {
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
    } catch {
      // stdin already closed
    }
    out.write(LEAVE);
  };
  const restore = () => {
    try {
      instance?.unmount();
    } catch {
      // already unmounted
    }
    leave();
  };

  const store = createDashStore({
    context: o.context,
    readOnly: o.keymap.readOnly,
    keepFinishedMs: o.keepFinishedMs,
  });
  const actions = store.getState().actions;
  const client = ClusterClient.open(o.client);
  const feed = startClusterFeed(client, {
    batch: (events, received) => actions.applyBatch(events, received),
    status: (s) => actions.setConn(s),
    problem: (m) => actions.setFeedProblem(m),
    leaseTtl: (ms) => actions.setLeaseTtl(ms),
    audit: (events) => actions.addHistoryEvents(events),
  });
  const runner = createCommandRunner(store, client, o.actor, INTENTS);

  const onSignal = (sig: NodeJS.Signals) => {
    restore();
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGHUP" ? 1 : 15));
  };
  const onCrash = (e: unknown) => {
    restore();
    process.stderr.write(
      `backplane dash crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  };
  const signals: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT"];
  for (const s of signals) process.on(s, onSignal);
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  process.on("exit", leave);

  out.write(ENTER);
  inScreen = true;
  try {
    instance = render(
      <App
        store={store}
        runner={runner}
        keymap={o.keymap}
        palette={o.palette}
        onQuit={() => instance?.unmount()}
        pacer={new FramePacer({ maxFps: MAX_FPS, burst: 2 })}
      />,
      // No incrementalRendering: in Ink 6.8 it starts each update one row too low when the frame
      // ends with a newline (any frame shorter than the terminal, as ours must be), so the whole
      // screen drifts by a line. The standard writer redraws every line, inside synchronized output.
      // The pacer draws; Ink's own throttle is the fallback should the pacer not attach.
      { maxFps: MAX_FPS, exitOnCtrlC: false, patchConsole: false },
    );
    await instance.waitUntilExit();
  } finally {
    leave();
    for (const s of signals) process.off(s, onSignal);
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    feed.stop();
    await Promise.race([client.close(), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }
  return 0;
}
