import { createContext, useContext } from "react";
import { useStore } from "zustand";
import type { KeyDispatcher } from "../keymap/dispatcher.js";
import type { Keymap } from "../keymap/keymap.js";
import type { CommandRunner, DashActions, DashState, DashStore } from "../store/index.js";

export interface DashEnv {
  store: DashStore;
  runner: CommandRunner;
  keymap: Keymap;
  dispatcher: KeyDispatcher;
  /** Called by `q` / ctrl+c. */
  quit: () => void;
}

export const DashContext = createContext<DashEnv | null>(null);

export function useDashEnv(): DashEnv {
  const env = useContext(DashContext);
  if (!env) throw new Error("dashboard components must be rendered inside <App>");
  return env;
}

/** Select one narrow slice of the store; the component re-renders only when it changes. */
export function useDash<T>(selector: (s: DashState) => T): T {
  return useStore(useDashEnv().store, selector);
}

export function useActions(): DashActions {
  return useDashEnv().store.getState().actions;
}

/** False while the connection is down: what is shown is then the last known state, not live. */
export function useLive(): boolean {
  return useDash((s) => s.conn.state === "connected");
}
