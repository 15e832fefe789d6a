/**
 * WebSocket at `/ws` (protocol.md section 1): a text message is one JSON
 * frame, a binary message one MessagePack frame answered in MessagePack. A
 * client may authenticate at connect with `?token=` or `Authorization:
 * Bearer`; a bad token rejects the upgrade with 401, and a connection over
 * the caps with 429. The ws library buffers at most the frame limit of a
 * message (`maxPayload`), so a message over it cannot be skipped: it gets
 * `frame_too_large`, then the close 1009, as TCP closes after the error.
 * A message begun and not finished within the frame timeout gets `timeout`
 * and the connection is closed.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex, Writable } from "node:stream";
import * as wsModule from "ws";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { AccessClaims, Logger } from "@colmena/runtime";
import { REFUSED_RETRY_MS, type Admission } from "./admission.ts";
import type { Sessions, TokenVerifier } from "./auth.ts";
import type { Conn, Sink, Transport } from "./connection.ts";
import type { Router } from "./router.ts";
import type { SharedText } from "./shared-text.ts";
import { SlowFrames } from "./slow-frames.ts";
import { endWithAnswer } from "./socket-answer.ts";
import { corkForTick } from "./tick-cork.ts";

export interface WsDeps {
  maxFrameBytes: number;
  frameTimeoutMs: number;
  admission: Admission;
  router: Router;
  tokens: TokenVerifier;
  sessions: Sessions;
  log: Logger;
  open(transport: Transport, remote: string, sink: Sink): Conn;
}

export const WS_PATH = "/ws";

/**
 * How a push's frame reaches a WebSocket already framed: ws's Sender writes a
 * frame list to the socket in order with everything else ws sends (as
 * Socket.IO's pre-encoded broadcasts do), and the socket can be corked for
 * the tick. Neither is public API; these are ws 8's fields (the lockfile pins
 * it, and the push tests fail if they change). Undefined when they are not
 * there: the sink then sends the text through ws.send.
 */
export function framedWriter(ws: WebSocket): { socket: Writable; write(frame: Buffer): void } | undefined {
  const inner = ws as unknown as { _socket?: Writable; _sender?: { sendFrame?: (list: Buffer[]) => void } };
  const sender = inner._sender;
  if (!inner._socket || typeof inner._socket.cork !== "function" || typeof sender?.sendFrame !== "function") return undefined;
  return { socket: inner._socket, write: (frame) => sender.sendFrame!([frame]) };
}

/** ws's own framing (its `Sender` export, which @types/ws does not declare). */
const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, o: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] } };

/** A server's unmasked WebSocket text frame (header and payload) of `payload`, ready to write to a socket. */
export const wsTextFrame = (payload: Buffer): Buffer =>
  Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }));

const textFrame = (t: SharedText): Buffer => (t.wsFrame ??= wsTextFrame(t.bytes()));

/** A connected WebSocket's sink (ws has its socket by the time it reports the connection). */
export function wsSink(ws: WebSocket): Sink {
  const framed = framedWriter(ws);
  // Frames written in one tick (a burst of pushes, pipelined replies) leave in one syscall.
  const cork = () => {
    if (framed) corkForTick(framed.socket);
  };
  return {
    writeText: (text) => {
      cork();
      ws.send(text);
    },
    writeShared: (t) => {
      if (ws.readyState !== ws.OPEN) return; // as ws.send drops what comes after a close
      if (!framed) return void ws.send(t.text);
      cork();
      framed.write(textFrame(t));
    },
    writeBinary: (bytes) => {
      cork();
      ws.send(bytes, { binary: true });
    },
    buffered: () => ws.bufferedAmount,
    close: (reason, graceful) => (graceful ? ws.close(1000, reason.slice(0, 120)) : ws.terminate()),
    ping: () => ws.ping(),
  };
}

function reject(socket: Duplex, status: number, text: string, extra: Record<string, string> = {}): void {
  endWithAnswer(socket, status, text, { ...extra, "Content-Type": "text/plain", "Content-Length": String(text.length) }, text);
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

/**
 * Whether ws holds part of a message: bytes of an unfinished frame, or the
 * fragments of an unfinished message. No public API tells; these are the
 * Receiver's fields in ws 8 (the lockfile pins it; the frame-timeout tests
 * fail if they change). Undefined when they are not there.
 */
function messageHeld(ws: WebSocket): () => boolean | undefined {
  return () => {
    const r = (ws as unknown as { _receiver?: { _bufferedBytes?: unknown; _fragments?: unknown } })._receiver;
    if (!r || typeof r._bufferedBytes !== "number" || !Array.isArray(r._fragments)) return undefined;
    return r._bufferedBytes > 0 || r._fragments.length > 0;
  };
}

/** Serves WebSocket upgrades on an HTTP server; returns a closer. */
export function attachWs(server: Server, deps: WsDeps): { close(): void } {
  // A message may hold no more than a frame: ws buffers what it receives of one up to maxPayload.
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxFrameBytes, perMessageDeflate: false });
  const slow = new SlowFrames(deps.frameTimeoutMs);

  const onSocket = (ws: WebSocket, req: IncomingMessage, claims: AccessClaims | undefined) => {
    const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
    const conn = deps.open("ws", remote, wsSink(ws));
    if (claims) void deps.sessions.bind(conn, claims).catch((err) => deps.log.warn({ err, conn: conn.id }, "could not bind the connect token"));
    // ws meets a message over maxPayload by closing with 1009 at once; the client hears why first
    // (in the encoding of its last frame: the one that is too large was never decoded).
    const close = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer) => {
      if (code === 1009 && !conn.closed) deps.router.tooLarge(conn, conn.encoding);
      close(code, reason);
    };
    // A message is under way from the first bytes after the last complete one: ws reads the
    // socket in its own 'data' listener, so this one goes first, and 'message' ends the span.
    // Control frames (a pong to the idle probe) end no message: the sweep asks ws whether part
    // of one is held, so pongs can neither trip the timeout nor, between fragments, reset it.
    let partialSince: number | undefined;
    req.socket.prependListener("data", () => (partialSince ??= performance.now()));
    const held = messageHeld(ws);
    if (held() === undefined) {
      const endsSpan = () => (partialSince = undefined);
      ws.on("ping", endsSpan).on("pong", endsSpan);
    }
    slow.watch(conn, () => (held() === false ? (partialSince = undefined) : partialSince));
    ws.on("message", (data, isBinary) => {
      partialSince = undefined;
      const buf = asBuffer(data);
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
    const slot = deps.admission.admit(req.socket.remoteAddress);
    if (!slot.ok) return reject(socket, 429, "Too Many Connections", { "Retry-After": String(Math.ceil(REFUSED_RETRY_MS / 1000)) });
    socket.once("close", slot.release);
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
      slow.stop();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
