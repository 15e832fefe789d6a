/**
 * The thinnest WebSocket client a fan-out benchmark can have: RFC 6455 over
 * a plain socket, read through `onread` into one buffer shared by every
 * connection of the process (no stream, no copy of a frame that arrived
 * whole, no event per frame), text frames handed on as byte ranges of that
 * buffer. It speaks the same bytes as any client (masked frames out, pings
 * answered with pongs) and nothing more: no extensions, no fragments (neither
 * Colmena's gateway nor Socket.IO fragments a frame it sends), no close
 * handshake.
 *
 * Why: a load generator shares the machine's cores with the server it
 * measures. With `ws` a thousand chat members cost the harness 45% of a
 * core in JavaScript at 50,000 deliveries/s (its Receiver is a Writable
 * stream; each frame a Buffer, a string and an event) beside 35% in the
 * kernel's socket reads. The benchmarks' thin clients use it (FrameClient's
 * WebSocket, the chat members); the files benchmark drives the SDK
 * (libs/client) on purpose, since its WebSocket path is what it measures.
 */
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

/** A complete text frame's payload: `buf[start, end)`, valid only during the call. */
export type OnText = (buf: Buffer, start: number, end: number, ws: RawWebSocket) => void;

/** One read buffer for every connection: `onread` callbacks run one at a time, and each consumes what it was given. */
const shared = Buffer.allocUnsafe(1 << 20);

export class RawWebSocket {
  private rest: Buffer | null = null;
  private upgraded = false;
  private opened!: { resolve(): void; reject(e: Error): void };

  private constructor(private readonly socket: Socket, private readonly onText: OnText) {}

  /** Connects to `ws://host:port/path` and resolves once the server has accepted the upgrade. */
  static open(url: string, onText: OnText): Promise<RawWebSocket> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      let ws!: RawWebSocket;
      const socket = connect({ host: u.hostname, port: Number(u.port), onread: { buffer: shared, callback: (n) => { ws.read(shared, n); return true; } } });
      ws = new RawWebSocket(socket, onText);
      ws.opened = { resolve: () => resolve(ws), reject };
      socket.setNoDelay(true);
      socket.once("error", (e) => (ws.upgraded ? undefined : reject(e)));
      socket.once("connect", () => socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ));
    });
  }

  /** Sends one text frame (masked, as a client must). */
  send(text: string): void {
    this.frame(0x1, Buffer.from(text));
  }

  terminate(): void {
    this.socket.destroy();
  }

  /** Called once the connection is gone, whoever ended it. */
  onClose(done: () => void): void {
    this.socket.once("close", done);
  }

  private frame(opcode: number, payload: Buffer): void {
    const n = payload.length;
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const out = Buffer.allocUnsafe(head + 4 + n);
    out[0] = 0x80 | opcode;
    if (n < 126) out[1] = 0x80 | n;
    else if (n < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(n, 2); }
    else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(n), 2); }
    const mask = randomBytes(4);
    mask.copy(out, head);
    for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
    this.socket.write(out);
  }

  private read(chunk: Buffer, n: number): void {
    let buf = chunk, end = n;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk.subarray(0, n)]);
      end = buf.length;
      this.rest = null;
    }
    let at = 0;
    if (!this.upgraded) {
      const head = buf.indexOf("\r\n\r\n");
      if (head < 0 || head + 4 > end) return this.keep(buf, 0, end);
      if (!buf.toString("latin1", 0, 12).startsWith("HTTP/1.1 101")) {
        this.opened.reject(new Error(`upgrade refused: ${buf.toString("latin1", 0, Math.min(end, head)).split("\r\n")[0]}`));
        return this.terminate();
      }
      this.upgraded = true;
      at = head + 4;
      this.opened.resolve();
    }
    while (end - at >= 2) {
      const opcode = buf[at] & 0x0f;
      let len = buf[at + 1] & 0x7f, start = at + 2;
      if (len === 126) { if (end - at < 4) break; len = buf.readUInt16BE(at + 2); start = at + 4; }
      else if (len === 127) { if (end - at < 10) break; len = Number(buf.readBigUInt64BE(at + 2)); start = at + 10; }
      if (start + len > end) break;
      if (opcode === 0x1) this.onText(buf, start, start + len, this);
      else if (opcode === 0x9) this.frame(0xa, Buffer.from(buf.subarray(start, start + len)));
      at = start + len;
    }
    if (at < end) this.keep(buf, at, end);
  }

  /** What is left of a frame waits for the next read, copied out of the shared buffer. */
  private keep(buf: Buffer, from: number, to: number): void {
    this.rest = Buffer.from(buf.subarray(from, to));
  }
}
