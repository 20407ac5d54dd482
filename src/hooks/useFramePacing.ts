import type { DOMElement } from "ink";
import { useLayoutEffect, useRef, type RefObject } from "react";

/** What decides when frames are drawn (app/frame-pacer.ts implements it). */
export interface FramePacing {
  attach(draw: () => void): void;
  detach(): void;
  request(): void;
}

/**
 * Let `pacer` decide when Ink draws. Ink 6 throttles every frame alike (`maxFps`), so a key
 * pressed just after a data frame waits out the interval; Ink's root node exposes both its
 * throttled and its immediate render, and this routes commits through the pacer to the immediate
 * one. Put the returned ref on the outermost Box. If the root does not look as expected (another
 * Ink), Ink keeps its own throttle.
 */
export function useFramePacing(pacer: FramePacing | undefined): RefObject<DOMElement | null> {
  const ref = useRef<DOMElement>(null);
  useLayoutEffect(() => {
    const root = ref.current?.parentNode;
    if (!pacer || root?.nodeName !== "ink-root") return;
    const inkThrottled = root.onRender;
    const draw = root.onImmediateRender;
    if (!inkThrottled || !draw) return;
    pacer.attach(draw);
    root.onRender = () => pacer.request();
    return () => {
      root.onRender = inkThrottled;
      pacer.detach();
    };
  }, [pacer]);
  return ref;
}
