import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import type { ClusterClient, Unsubscribe } from "../client/index.js";
import { errorMessage, type Logger } from "../lib/log.js";
import type { Telemetry } from "../lib/telemetry.js";
import type { ClusterView, ViewChange } from "./view.js";

const MAX_BUFFERED = 8 * 1024 * 1024;

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
 * up is disconnected rather than buffered without bound.
 */
export class EventStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly clients = new Set<WebSocket>();
  private offView?: () => void;
  private offProgress?: Unsubscribe;
  private readonly log: Logger;

  constructor(
    private readonly client: ClusterClient,
    private readonly view: ClusterView,
    telemetry: Telemetry,
  ) {
    this.log = telemetry.log;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, snapshot: boolean): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, snapshot));
  }

  private attach(ws: WebSocket, snapshot: boolean): void {
    this.clients.add(ws);
    if (this.clients.size === 1) this.follow();
    ws.on("close", () => {
      this.clients.delete(ws);
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
    for (const ws of this.clients) this.sendText(ws, text);
  }

  private send(ws: WebSocket, e: StreamEvent): void {
    this.sendText(ws, JSON.stringify(e));
  }

  private sendText(ws: WebSocket, text: string): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) {
      ws.close(1013, "too slow: events are being dropped");
      return;
    }
    ws.send(text);
  }

  close(): void {
    for (const ws of this.clients) ws.terminate();
    this.clients.clear();
    this.unfollow();
    this.wss.close();
  }
}
