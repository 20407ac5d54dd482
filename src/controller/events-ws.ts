import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { ClusterClient, Unsubscribe } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import type { ClusterView, ViewChange } from "./view.js";

/** How many `/api/events` sockets the controller keeps, and how far a slow reader may fall behind. */
export interface EventLimits {
  /** Sockets open at once, from everyone. */
  maxClients: number;
  /** Sockets open at once from one remote address. */
  maxPerAddress: number;
  /** Bytes queued for one socket before it is dropped (a reader that stopped reading). */
  maxBufferedBytes: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  maxClients: 256,
  maxPerAddress: 16,
  maxBufferedBytes: 8 * 1024 * 1024,
};

/** What `GET /api/events` streams, one JSON object per WebSocket message. */
export type StreamEvent =
  | { type: "hello"; at: number }
  | (ViewChange & { at: number })
  | { type: "progress"; at: number; progress: unknown };

/** The stream carries node, op, upgrade and settings changes; inventories stay inside. */
const streamed = (c: ViewChange): boolean => c.type !== "inventory";

/**
 * The `/api/events` WebSocket: op, node, upgrade and settings changes as this replica's view sees
 * them, plus live progress. `?snapshot=1` sends the current state first. A client that cannot keep
 * up is dropped at once rather than buffered without bound, and sockets are capped per address
 * and in total.
 */
export class EventStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Map<WebSocket, string>();
  private readonly perAddress = new Map<string, number>();
  private readonly limits: EventLimits;
  private offView?: () => void;
  private offProgress?: Unsubscribe;
  private readonly log: Logger;

  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    telemetry: Telemetry,
    limits: Partial<EventLimits> = {},
  ) {
    this.log = telemetry.log;
    this.limits = { ...DEFAULT_EVENT_LIMITS, ...limits };
  }

  /** Why a new socket from `address` would be refused (and with which HTTP status), if it would. */
  refusal(address: string): { status: number; reason: string } | undefined {
    if (this.clients.size >= this.limits.maxClients) {
      return { status: 503, reason: `${this.limits.maxClients} event sockets are open already` };
    }
    if ((this.perAddress.get(address) ?? 0) >= this.limits.maxPerAddress) {
      return { status: 429, reason: `${this.limits.maxPerAddress} event sockets from ${address} already` };
    }
    return undefined;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, snapshot: boolean): void {
    const address = req.socket.remoteAddress ?? "unknown";
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, address, snapshot));
  }

  private attach(ws: WebSocket, address: string, snapshot: boolean): void {
    this.clients.set(ws, address);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    if (this.clients.size === 1) this.follow();
    ws.on("close", () => {
      if (!this.clients.delete(ws)) return;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
      if (this.clients.size === 0) this.unfollow();
    });
    ws.on("error", (e) => this.log.debug("events socket error", { error: errorMessage(e) }));
    // Incoming messages are ignored; the stream is one-way.
    ws.on("message", () => {});
    this.send(ws, { type: "hello", at: Date.now() });
    if (snapshot) {
      const at = Date.now();
      for (const c of this.view.snapshot()) if (streamed(c)) this.send(ws, { ...c, at });
    }
  }

  private follow(): void {
    this.offView = this.view.onChange((c, initial) => {
      if (initial || !streamed(c)) return;
      this.broadcast({ ...c, at: Date.now() });
    });
    this.offProgress = this.client.onProgress((p) =>
      this.broadcast({ type: "progress", at: Date.now(), progress: p }),
    );
  }

  private unfollow(): void {
    this.offView?.();
    this.offProgress?.();
    this.offView = undefined;
    this.offProgress = undefined;
  }

  private broadcast(e: StreamEvent): void {
    const text = JSON.stringify(e);
    for (const ws of this.clients.keys()) this.sendText(ws, text);
  }

  private send(ws: WebSocket, e: StreamEvent): void {
    this.sendText(ws, JSON.stringify(e));
  }

  private sendText(ws: WebSocket, text: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.limits.maxBufferedBytes) {
      // A close frame would queue behind what the reader is not reading; drop the socket now.
      this.log.warn("events socket dropped: its reader fell behind", {
        address: this.clients.get(ws),
        bufferedBytes: ws.bufferedAmount,
      });
      ws.terminate();
      return;
    }
    ws.send(text);
  }

  close(): void {
    for (const ws of this.clients.keys()) ws.terminate();
    this.clients.clear();
    this.perAddress.clear();
    this.unfollow();
    this.wss.close();
  }
}
