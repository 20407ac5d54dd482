import type { Logger } from "../lib/log.js";

const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/**
 * For the daemons: the first SIGTERM or SIGINT calls `stop` (a graceful shutdown), a second one
 * exits at once with 130, as an operator pressing ctrl-c twice expects. Returns a function that
 * removes the handlers.
 */
export function onStopSignal(log: Logger, stop: () => void): () => void {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      log.warn("second signal: exiting now", { signal: sig });
      process.exit(130);
    }
    stopping = true;
    log.info("stopping", { signal: sig });
    stop();
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return () => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
}
