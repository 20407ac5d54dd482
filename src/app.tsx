import { Box, useInput } from "ink";
import { useCallback, useMemo, type ReactNode } from "react";
import { ConfirmDialog } from "./components/ConfirmDialog.js";
import { Footer } from "./components/Footer.js";
import { Header } from "./components/Header.js";
import { StatusLine } from "./components/StatusLine.js";
import { MIN_COLUMNS, MIN_ROWS, TooSmall } from "./components/TooSmall.js";
import { DashContext, useDash, useDashEnv, type DashEnv } from "./hooks/context.js";
import type { FramePacer } from "./app/frame-pacer.js";
import { useAppKeys } from "./app/useAppKeys.js";
import { useFramePacing } from "./hooks/useFramePacing.js";
import { useSettingsFallback } from "./hooks/useSettingsFallback.js";
import { useTerminalSize } from "./hooks/useTerminalSize.js";
import { useToastExpiry } from "./hooks/useToastExpiry.js";
import { KeyDispatcher } from "./keymap/dispatcher.js";
import type { Keymap } from "./keymap/keymap.js";
import { keyNames, type InkKey } from "./keymap/keys.js";
import { currentView, tableKeyOf, type CommandRunner, type DashStore } from "./store/index.js";
import { ThemeContext, type Palette } from "./theme/index.js";
import { VIEWS } from "./views/index.js";

export interface AppProps {
  store: DashStore;
  runner: CommandRunner;
  keymap: Keymap;
  palette: Palette;
  onQuit: () => void;
  /** Decides when frames are drawn (the terminal app); without it Ink draws on every commit it allows. */
  pacer?: FramePacer;
}

/** Header (2 lines), status line and footer (1 each); the root is one line short of the terminal. */
const CHROME_LINES = 4;

function Screen(): ReactNode {
  const { dispatcher } = useDashEnv();
  useAppKeys();
  useToastExpiry();
  useSettingsFallback();
  // The one input hook: every key goes through the priority stack (dialog, prompt, view, global).
  const onInput = useCallback(
    (input: string, key: InkKey) => {
      for (const k of keyNames(input, key)) dispatcher.send({ key: k });
    },
    [dispatcher],
  );
  useInput(onInput);

  const { columns, rows } = useTerminalSize();
  const entry = useDash((s) => currentView(s));
  const dialogOpen = useDash((s) => s.dialog !== null);
  if (columns < MIN_COLUMNS || rows < MIN_ROWS) return <TooSmall columns={columns} rows={rows} />;

  // A frame as tall as the terminal makes Ink 6 clear the screen on every update: stay one short.
  const height = rows - 1;
  const body = height - CHROME_LINES;
  const View = VIEWS[entry.id];
  return (
    <Box flexDirection="column" width={columns} height={height}>
      <Header width={columns} />
      <Box height={body} display={dialogOpen ? "none" : "flex"}>
        <View key={tableKeyOf(entry)} entry={entry} width={columns} height={body} />
      </Box>
      {dialogOpen ? <ConfirmDialog width={columns} height={body} /> : null}
      <StatusLine width={columns} />
      <Footer view={entry.id} width={columns} />
    </Box>
  );
}

/** The dashboard root: providers and the screen, nothing else. */
export function App({ store, runner, keymap, palette, onQuit, pacer }: AppProps): ReactNode {
  const env = useMemo<DashEnv>(
    () => ({
      store,
      runner,
      keymap,
      // Each key's frame is drawn at once rather than paced like data.
      dispatcher: new KeyDispatcher(() => pacer?.expectInput()),
      quit: onQuit,
    }),
    [store, runner, keymap, onQuit, pacer],
  );
  const root = useFramePacing(pacer);
  return (
    <DashContext.Provider value={env}>
      <ThemeContext.Provider value={palette}>
        <Box ref={root}>
          <Screen />
        </Box>
      </ThemeContext.Provider>
    </DashContext.Provider>
  );
}
