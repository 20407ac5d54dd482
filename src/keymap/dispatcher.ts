/** One key press after normalisation; a handler returns true when it consumed the key. */
export interface KeyEvent {
  /** Canonical key name (keys.ts). */
  key: string;
}

export type KeyHandler = (e: KeyEvent) => boolean;

/** Higher runs first: a dialog sees a key before a prompt, a prompt before the view, and so on. */
export const Priority = { global: 0, view: 10, prompt: 20, dialog: 30 } as const;

/**
 * Every active Ink `useInput` sees every key, so the dashboard has exactly one and dispatches
 * through this stack instead: highest priority first, and within a level the newest handler first.
 */
export class KeyDispatcher {
  private handlers: Array<{ priority: number; seq: number; handle: KeyHandler }> = [];
  private seq = 0;
  private queue: KeyEvent[] = [];
  private busy = false;

  /** `beforeEach` runs just before each key of `send` is dispatched. */
  constructor(private readonly beforeEach: () => void = () => {}) {}

  /**
   * Dispatch a key as typed: at once, unless keys before it are still waiting, and then one
   * event-loop turn after the key before it. A key can change the screen (switch view, open a
   * dialog), whose handlers register when React commits it, a microtask later; keys arriving
   * in one burst (fast typing, a paste, tmux) must each reach the screen the key before opened.
   */
  send(e: KeyEvent): void {
    this.queue.push(e);
    if (!this.busy) this.next();
  }

  private next(): void {
    const e = this.queue.shift();
    if (!e) {
      this.busy = false;
      return;
    }
    this.busy = true;
    this.beforeEach();
    this.dispatch(e);
    setImmediate(() => this.next());
  }

  register(priority: number, handle: KeyHandler): () => void {
    const entry = { priority, seq: this.seq++, handle };
    this.handlers.push(entry);
    this.handlers.sort((a, b) => b.priority - a.priority || b.seq - a.seq);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== entry);
    };
  }

  dispatch(e: KeyEvent): boolean {
    for (const h of [...this.handlers]) if (h.handle(e)) return true;
    return false;
  }
}
