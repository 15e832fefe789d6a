/**
 * A deliberately thin Colmena frame client for load generation: one socket,
 * pipelined requests matched by integer id, no reconnects, events only as raw text. The SDK
 * (libs/client) does more per frame; here the client must cost as little CPU as
 * possible, because it shares two cores with the gateway it measures.
 */
import { connect, type Socket } from "node:net";
import { RawWebSocket } from "./raw-ws.ts";

export interface ReplyFrame {
  id: number;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}

/** One connection to a gateway: `tcp://host:port` or `ws://host:port/ws`. */
export class FrameClient {
  private nextId = 1;
  private readonly pending = new Map<number, (f: ReplyFrame) => void>();
  /** Event frames, as received text (not parsed: a fan-out benchmark reads many). */
  onEvent?: (text: string) => void;
  /** `sendText` writes one frame; the transport calls `receive` per frame and `closed` at the end. */
  constructor(private readonly sendText: (s: string) => void, readonly close: () => void) {}

  /** Opens the connection; resolves once it accepts frames. */
  static open(url: string): Promise<FrameClient> {
    const u = new URL(url);
    return u.protocol === "tcp:" ? openTcp(u) : openWs(u);
  }

  /** Sends one request and resolves with its reply frame (errors are replies too, not rejections). */
  request(op: string, data?: unknown): Promise<ReplyFrame> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.sendText(JSON.stringify(data === undefined ? { id, op } : { id, op, data }));
    });
  }

  /** Like `request`, but throws on an error reply. */
  async call(op: string, data?: unknown): Promise<unknown> {
    const f = await this.request(op, data);
    if (!f.ok) throw new Error(`${op}: ${f.error?.code}: ${f.error?.message}`);
    return f.data;
  }

  /** Feeds one received frame (text) to its waiting request. */
  receive(text: string): void {
    if (this.onEvent && text.startsWith('{"event"')) return this.onEvent(text);
    let f: ReplyFrame;
    try {
      f = JSON.parse(text) as ReplyFrame;
    } catch {
      return;
    }
    const done = this.pending.get(f.id);
    if (!done) return; // an event frame, or a reply to nobody
    this.pending.delete(f.id);
    done(f);
  }

  /** Fails every outstanding request when the socket goes away. */
  closed(): void {
    for (const [id, done] of this.pending) done({ id, ok: false, error: { code: "closed", message: "connection closed" } });
    this.pending.clear();
  }
}

function openTcp(u: URL): Promise<FrameClient> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: u.hostname, port: Number(u.port) });
    socket.setNoDelay(true);
    const client = new FrameClient((s) => socket.write(s + "\n"), () => socket.destroy());
    let tail = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      const text = tail + chunk;
      let start = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
        if (nl > start) client.receive(text.slice(start, nl));
        start = nl + 1;
      }
      tail = text.slice(start);
    });
    socket.once("connect", () => resolve(client));
    socket.on("error", reject); // after "connect" this is a no-op; "close" fails what is pending
    socket.on("close", () => client.closed());
  });
}

async function openWs(u: URL): Promise<FrameClient> {
  let ws: RawWebSocket | undefined;
  const client = new FrameClient((s) => ws!.send(s), () => ws!.terminate());
  ws = await RawWebSocket.open(u.href, (buf, start, end) => client.receive(buf.toString("utf8", start, end)));
  ws.onClose(() => client.closed());
  return client;
}
