import { useLayoutEffect, useRef } from "react";
import { Priority, type KeyEvent } from "../keymap/dispatcher.js";
import type { CommandId, ViewId } from "../keymap/registry.js";
import { useDashEnv } from "./context.js";

/**
 * Register a key handler at a priority for as long as the component is mounted (and `active`).
 * Registered in the commit (a layout effect), so the next key already reaches a screen just shown.
 */
export function useKeyHandler(priority: number, handler: (e: KeyEvent) => boolean, active = true): void {
  const { dispatcher } = useDashEnv();
  const ref = useRef(handler);
  ref.current = handler;
  useLayoutEffect(() => {
    if (!active) return;
    return dispatcher.register(priority, (e) => ref.current(e));
  }, [dispatcher, priority, active]);
}

/** Handle the keymap commands of a view: the handler gets a command id, never a raw key. */
export function useViewCommands(view: ViewId, handler: (cmd: CommandId) => boolean, active = true): void {
  const { keymap } = useDashEnv();
  useKeyHandler(
    Priority.view,
    (e) => {
      const cmd = keymap.resolve("global", e.key, view);
      return cmd !== null && !keymap.disabled(cmd) && handler(cmd);
    },
    active,
  );
}
