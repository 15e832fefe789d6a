/**
 * The original line chat (protocol.md section 9), hosted by the chat
 * service (the gateway knows no service): plain text lines over TCP. Every
 * line goes to room `lobby` as a message from `guest-<n>`, or from the name
 * given with `/nick NAME`; every lobby message (from line, WebSocket or TCP
 * frame clients alike) arrives as `NAME: TEXT`, except at its own sender.
 * Lobby messages reach this listener from this replica's read model, so
 * each replica serves its own line clients whichever replica stored them.
 */
import { createServer, type Server, type Socket } from "node:net";
import { LOBBY, MAX_BODY_BYTES } from "@colmena/protocol";
import type { Logger } from "@colmena/runtime";
import type { MessageStored } from "./events.ts";
import type { MessageWriter } from "./send.ts";

/** A line longer than this (no newline yet) ends the connection: the original chat had no use for more. */
const MAX_LINE = MAX_BODY_BYTES;
/** A client that reads slower than the lobby talks is dropped past this much unsent output. */
const MAX_BACKLOG = 1024 * 1024;
const NICK = /^\/nick\s+([A-Za-z0-9_.-]{1,32})\s*$/;

interface LineClient { socket: Socket; name: string; conn: string }

export class LineChat {
  private readonly clients = new Set<LineClient>();
  private guests = 0;
  /** Lobby messages up to this seq were written out (or predate the listener). */
  private delivered: number;

  private constructor(private readonly server: Server, private readonly writer: MessageWriter, private readonly log: Logger, private readonly tag: string, fromSeq: number) {
    this.delivered = fromSeq;
  }

  /** Listens on `port` (0: a free one). Messages after `fromSeq` are relayed. */
  static async start(opts: { host: string; port: number; writer: MessageWriter; log: Logger; instance: string; fromSeq: number }): Promise<LineChat> {
    const server = createServer();
    const lc = new LineChat(server, opts.writer, opts.log, opts.instance, opts.fromSeq);
    server.on("connection", (s) => lc.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => { server.off("error", reject); resolve(); });
    });
    server.on("error", (err) => opts.log.warn({ err }, "line chat listener error"));
    return lc;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  /** A lobby message the read model folded: one line to every line client but its sender. */
  deliver(seq: number, msg: MessageStored): void {
    if (msg.room !== LOBBY || seq <= this.delivered) return;
    this.delivered = seq;
    const text = msg.body !== undefined ? msg.body.replace(/[\r\n]+/g, " ") : "[encrypted]";
    const line = `${msg.from}: ${text}\n`;
    for (const c of this.clients) {
      if (c.conn === msg.conn) continue;
      if (c.socket.writableLength > MAX_BACKLOG) { c.socket.destroy(); continue; }
      c.socket.write(line);
    }
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.socket.destroy();
    this.clients.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(socket: Socket): void {
    const n = ++this.guests;
    const client: LineClient = { socket, name: `guest-${n}`, conn: `line-${this.tag}-${n}` };
    this.clients.add(client);
    socket.setEncoding("utf8");
    socket.setNoDelay(true);
    let buf = "";
    // Abrupt disconnects and errors alike remove the client.
    const drop = () => this.clients.delete(client);
    socket.on("close", drop);
    socket.on("error", drop);
    socket.on("data", (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, "");
        buf = buf.slice(i + 1);
        this.line(client, line);
      }
      if (Buffer.byteLength(buf) > MAX_LINE) socket.destroy();
    });
  }

  private line(c: LineClient, line: string): void {
    if (line.trim() === "") return;
    const nick = NICK.exec(line);
    if (nick) { c.name = nick[1]; return; }
    if (Buffer.byteLength(line) > MAX_BODY_BYTES) return;
    this.writer.send({ room: LOBBY, from: c.name, userId: "", conn: c.conn, body: line }).catch((err) => {
      this.log.warn({ err: String(err) }, "line chat message not stored");
      if (!c.socket.destroyed) c.socket.write("* not sent: the chat is unavailable\n");
    });
  }
}
