import { useEffect, useState } from "react";

type Listener = (now: number) => void;
const clocks = new Map<number, { listeners: Set<Listener>; timer: NodeJS.Timeout }>();

/** One shared clock per interval for every age on screen, not one timer per row. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    let clock = clocks.get(intervalMs);
    if (!clock) {
      const listeners = new Set<Listener>();
      const timer = setInterval(() => {
        const t = Date.now();
        for (const l of listeners) l(t);
      }, intervalMs);
      timer.unref();
      clock = { listeners, timer };
      clocks.set(intervalMs, clock);
    }
    clock.listeners.add(setNow);
    return () => {
      clock.listeners.delete(setNow);
      if (clock.listeners.size === 0) {
        clearInterval(clock.timer);
        clocks.delete(intervalMs);
      }
    };
  }, [intervalMs]);
  return now;
}
