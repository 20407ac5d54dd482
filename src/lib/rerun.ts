/**
 * Wrap `run` so that it never runs twice at once: a call made while it runs is folded into one
 * more run after it, shared by every such call, and settles when that run does. Every caller thus
 * sees a run that started after its call.
 */
export function rerunWhileBusy<T>(run: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        let result: T;
        do {
          again = false;
          result = await run();
        } while (again);
        return result;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
}
