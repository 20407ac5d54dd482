import { sanitizeToken } from "./ids.js";

export const DEFAULT_PREFIX = "bp";

/** Every subject backplane uses, under one prefix. Dynamic tokens are sanitised. */
export class Subjects {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
      throw new Error(
        `invalid subject prefix ${JSON.stringify(prefix)}: use tokens of [A-Za-z0-9_-] joined by '.'`,
      );
    }
    this.prefix = prefix;
  }

  private s(...tokens: string[]): string {
    return [this.prefix, ...tokens].join(".");
  }

  heartbeat(nodeId: string): string {
    return this.s("node", sanitizeToken(nodeId), "heartbeat");
  }
  heartbeatAll(): string {
    return this.s("node", "*", "heartbeat");
  }
  /** Everything a node's agent may publish about itself. */
  nodeAll(nodeId: string): string {
    return this.s("node", sanitizeToken(nodeId), ">");
  }

  work(nodeId: string): string {
    return this.s("work", sanitizeToken(nodeId));
  }
  workAll(): string {
    return this.s("work", "*");
  }

  progress(nodeId: string, opId: string): string {
    return this.s("progress", sanitizeToken(nodeId), sanitizeToken(opId));
  }
  progressOfNode(nodeId: string): string {
    return this.s("progress", sanitizeToken(nodeId), "*");
  }
  progressAll(): string {
    return this.s("progress", "*", "*");
  }

  cancel(nodeId: string, opId: string): string {
    return this.s("cancel", sanitizeToken(nodeId), sanitizeToken(opId));
  }
  cancelOfNode(nodeId: string): string {
    return this.s("cancel", sanitizeToken(nodeId), "*");
  }

  api(method: string): string {
    return this.s("api", method);
  }
  apiAll(): string {
    return this.s("api", ">");
  }

  /** Controller replicas forward a request here for the leader to answer; not a public API. */
  leader(method: string): string {
    return this.s("controller", method);
  }

  event(kind: string, ...ids: string[]): string {
    return this.s("events", sanitizeToken(kind), ...ids.map(sanitizeToken));
  }
  eventsAll(): string {
    return this.s("events", ">");
  }
}

/** Stream names; the prefix keeps two installations on one NATS apart. */
export function streamNames(prefix: string = DEFAULT_PREFIX) {
  const p = prefix.replace(/\./g, "_").toUpperCase();
  return { work: `${p}_WORK`, events: `${p}_EVENTS` } as const;
}
