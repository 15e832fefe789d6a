/**
 * The TCP and TLS listeners (protocol.md section 1): one JSON frame per line,
 * `\r\n` accepted, blank lines ignored. A line over the frame limit gets
 * `frame_too_large` and the connection is closed: the stream cannot be
 * resynchronised. So does a line begun and not finished within the frame
 * timeout (`timeout`). A connection over the caps (in all, per address) gets
 * `rate_limited` and is closed before it is served.
 */
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { readFileSync } from "node:fs";
import { ColmenaError, errorReply } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import { REFUSED_RETRY_MS, type Admission } from "./admission.ts";
import type { Conn, Sink, Transport } from "./connection.ts";
import { corkForTick } from "./tick-cork.ts";
import type { Router } from "./router.ts";
import { SlowFrames } from "./slow-frames.ts";

export interface TcpDeps {
  host: string;
  port: number;
  maxFrameBytes: number;
  frameTimeoutMs: number;
  admission: Admission;
  router: Router;
  log: Logger;
  /** Registers a new connection with the gateway. */
  open(transport: Transport, remote: string, sink: Sink): Conn;
}

/** A peer that got `frame_too_large` has this long to take the error before the socket is destroyed. */
const LINGER_MS = 2000;

const NEWLINE = Buffer.from("\n");

function socketSink(socket: Socket): Sink {
  // Frames written in one tick (a burst of pushes, pipelined replies) leave in one syscall.
  const write = (data: string | Uint8Array) => {
    corkForTick(socket);
    socket.write(data);
  };
  return {
    writeText: (text) => write(text + "\n"),
    writeShared: (t) => write((t.line ??= Buffer.concat([t.bytes(), NEWLINE]))),
    writeBinary: (bytes) => write(bytes),
    buffered: () => socket.writableLength,
    close: (_reason, graceful) => {
      if (!graceful) return void socket.destroy();
      socket.end();
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    },
  };
}

/** Splits a byte stream into lines, never holding more than `max` bytes of an unfinished one. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** When the unfinished line began (performance.now), for the frame timeout. */
  partialSince: number | undefined;

  constructor(private readonly max: number, private readonly onLine: (line: string) => void, private readonly onTooLarge: () => void) {}

  /** Feeds a chunk; false once a line was too large (the splitter is then dead). */
  push(chunk: Buffer): boolean {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      // "\r\n" counts as the terminator, not as frame bytes.
      const len = this.pendingLen + end - start - (nl !== -1 && end > start && chunk[end - 1] === 13 ? 1 : 0);
      if (len > this.max) {
        this.pending = [];
        this.pendingLen = 0;
        this.onTooLarge();
        return false;
      }
      if (nl === -1) {
        if (end > start) {
          if (this.pendingLen === 0) this.partialSince = performance.now();
          this.pending.push(chunk.subarray(start));
          this.pendingLen += end - start;
        }
        return true;
      }
      const part = chunk.subarray(start, nl);
      const line = this.pendingLen ? Buffer.concat([...this.pending, part]) : part;
      this.pending = [];
      this.pendingLen = 0;
      this.partialSince = undefined;
      let text = line.toString("utf8");
      if (text.endsWith("\r")) text = text.slice(0, -1);
      if (text.trim().length > 0) this.onLine(text);
      start = nl + 1;
    }
  }
}

/** Answers a connection over the caps with one error line, then closes it. */
function refuse(socket: Socket, reason: string): void {
  const err = new ColmenaError("rate_limited", reason, { retryAfterMs: REFUSED_RETRY_MS });
  socket.on("error", () => undefined);
  socket.end(JSON.stringify(errorReply(null, err.toBody())) + "\n");
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

function serve(socket: Socket, transport: Transport, deps: TcpDeps, slow: SlowFrames): void {
  const slot = deps.admission.admit(socket.remoteAddress);
  if (!slot.ok) return refuse(socket, slot.reason);
  socket.once("close", slot.release);
  socket.setNoDelay(true);
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
  const conn = deps.open(transport, remote, socketSink(socket));
  const splitter = new LineSplitter(
    deps.maxFrameBytes,
    (line) => deps.router.onText(conn, line),
    () => {
      deps.router.tooLarge(conn, "json");
      conn.close("frame too large", true);
    },
  );
  slow.watch(conn, () => splitter.partialSince);
  let alive = true;
  socket.on("data", (chunk: Buffer) => {
    if (alive && !conn.closed) alive = splitter.push(chunk);
  });
  socket.on("error", (err) => deps.log.debug({ err, conn: conn.id }, "socket error"));
  socket.on("close", () => conn.gone());
}

function listenOnce(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : port);
    });
  });
}

/**
 * Listens dual-stack; on a machine without IPv6, `::` falls back to
 * `0.0.0.0` rather than failing to start. Resolves with the bound port.
 */
export async function listenOn(server: Server, host: string, port: number, log?: Logger): Promise<number> {
  try {
    return await listenOnce(server, host, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host !== "::" || (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL")) throw err;
    log?.warn({ code }, "no IPv6 here; listening on 0.0.0.0");
    return listenOnce(server, "0.0.0.0", port);
  }
}

/** The frame timeout's sweep, for as long as the listener lives. */
function slowFramesOf(server: Server, deps: TcpDeps): SlowFrames {
  const slow = new SlowFrames(deps.frameTimeoutMs);
  server.once("close", () => slow.stop());
  return slow;
}

/** Starts the plain TCP listener; resolves with the bound port. */
export async function startTcp(deps: TcpDeps): Promise<{ server: Server; port: number }> {
  const server = createServer();
  const slow = slowFramesOf(server, deps);
  server.on("connection", (socket) => serve(socket, "tcp", deps, slow));
  server.on("error", (err) => deps.log.error({ err }, "tcp listener error"));
  const port = await listenOn(server, deps.host, deps.port, deps.log);
  return { server, port };
}

/** Starts the TLS listener with PEM certificate and key files. */
export async function startTls(deps: TcpDeps, certFile: string, keyFile: string): Promise<{ server: Server; port: number }> {
  const server = createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  const slow = slowFramesOf(server, deps);
  server.on("secureConnection", (socket) => serve(socket, "tls", deps, slow));
  server.on("tlsClientError", (err) => deps.log.debug({ err }, "tls handshake failed"));
  server.on("error", (err) => deps.log.error({ err }, "tls listener error"));
  const port = await listenOn(server, deps.host, deps.port, deps.log);
  return { server, port };
}
