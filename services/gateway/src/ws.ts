/**
 * WebSocket at `/ws` (protocol.md section 1): a text message is one JSON
 * frame, a binary message one MessagePack frame answered in MessagePack. A
 * client may authenticate at connect with `?token=` or `Authorization:
 * Bearer`; a bad token rejects the upgrade with 401. A frame over the limit
 * gets `frame_too_large` and the connection stays open.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { AccessClaims, Logger } from "@colmena/runtime";
import type { Sessions, TokenVerifier } from "./auth.ts";
import type { Conn, Sink, Transport } from "./connection.ts";
import type { Router } from "./router.ts";

export interface WsDeps {
  maxFrameBytes: number;
  router: Router;
  tokens: TokenVerifier;
  sessions: Sessions;
  log: Logger;
  open(transport: Transport, remote: string, sink: Sink): Conn;
}

export const WS_PATH = "/ws";

function wsSink(ws: WebSocket): Sink {
  return {
    writeText: (text) => ws.send(text),
    writeBinary: (bytes) => ws.send(bytes, { binary: true }),
    buffered: () => ws.bufferedAmount,
    close: (reason, graceful) => (graceful ? ws.close(1000, reason.slice(0, 120)) : ws.terminate()),
    ping: () => ws.ping(),
  };
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The access token a connect request carries, if any. */
export function connectToken(req: IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get("token");
  if (q) return q;
  const auth = req.headers.authorization;
  const m = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return m ? m[1] : undefined;
}

const asBuffer = (data: RawData): Buffer => (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));

/** Serves WebSocket upgrades on an HTTP server; returns a closer. */
export function attachWs(server: Server, deps: WsDeps): { close(): void } {
  // ws closes a connection on a message over maxPayload; keep that well above
  // the frame limit so an oversized frame gets a frame_too_large reply instead.
  const wss = new WebSocketServer({ noServer: true, maxPayload: Math.max(4 * deps.maxFrameBytes, 8 << 20), perMessageDeflate: false });

  const onSocket = (ws: WebSocket, req: IncomingMessage, claims: AccessClaims | undefined) => {
    const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
    const conn = deps.open("ws", remote, wsSink(ws));
    if (claims) void deps.sessions.bind(conn, claims).catch((err) => deps.log.warn({ err, conn: conn.id }, "could not bind the connect token"));
    ws.on("message", (data, isBinary) => {
      const buf = asBuffer(data);
      if (buf.length > deps.maxFrameBytes) return deps.router.tooLarge(conn, isBinary ? "msgpack" : "json");
      if (isBinary) deps.router.onBinary(conn, buf);
      else deps.router.onText(conn, buf.toString("utf8"));
    });
    ws.on("pong", () => conn.touch());
    ws.on("error", (err) => deps.log.debug({ err, conn: conn.id }, "websocket error"));
    ws.on("close", () => conn.gone());
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => deps.log.debug({ err }, "upgrade socket error"));
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://gateway");
    } catch {
      return reject(socket, 400, "Bad Request");
    }
    if (url.pathname !== WS_PATH) return reject(socket, 404, "Not Found");
    const token = connectToken(req, url);
    const verified = token ? deps.tokens.verify(token) : Promise.resolve(undefined);
    verified.then(
      (claims) => wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, req, claims)),
      () => reject(socket, 401, "Unauthorized"),
    ).catch((err) => {
      deps.log.warn({ err }, "websocket upgrade failed");
      socket.destroy();
    });
  };
  server.on("upgrade", onUpgrade);

  return {
    close: () => {
      server.off("upgrade", onUpgrade);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
