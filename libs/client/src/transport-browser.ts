/**
 * The WebSocket transport as browsers run it: the platform's own WebSocket
 * (no `ws` package, no node:*), one JSON frame per text message.
 */
import type { ServerFrame } from "@colmena/protocol";
import { decodeFrame, encodeJson, encodeMsgpack, type Codec, type OutgoingFrame } from "./codec.ts";
import type { Dialer, Transport } from "./transport.ts";

/** The part of the browser's WebSocket this file uses (typed here so Node's typecheck needs no DOM lib). */
interface BrowserSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number): void;
  onopen: (() => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
type SocketCtor = new (url: string) => BrowserSocket;
const OPEN = 1;

/**
 * A class rather than an object literal on purpose: Rollup took the literal's
 * placeholder `onFrame: () => {}` for the function called and dropped the
 * call, though the client replaces it (every reply was lost in the bundle).
 */
class BrowserTransport implements Transport {
  onFrame: (frame: ServerFrame) => void = () => {};
  onClose: (err?: Error) => void = () => {};
  constructor(private readonly ws: BrowserSocket, private readonly codec: Codec) {}
  send(frame: OutgoingFrame): void {
    if (this.ws.readyState !== OPEN) return;
    this.ws.send(this.codec === "msgpack" ? encodeMsgpack(frame) : encodeJson(frame));
  }
  close(): void {
    this.ws.close(1000);
  }
}

export const dialBrowserWs: Dialer = (url, codec, opts) => {
  const Ctor = (globalThis as unknown as { WebSocket?: SocketCtor }).WebSocket;
  if (!Ctor) return Promise.reject(new Error("this platform has no WebSocket"));
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return Promise.reject(new Error(`a browser connects with ws:// or wss://, not ${url.protocol}`));
  return new Promise((resolve, reject) => {
    const ws = new Ctor(url.href);
    ws.binaryType = "arraybuffer";
    let open = false;
    const timer = setTimeout(() => { if (!open) { ws.close(); reject(new Error(`connect to ${url.href} timed out`)); } }, opts.connectTimeoutMs);
    const transport = new BrowserTransport(ws, codec);
    ws.onmessage = (ev) => {
      const frame = typeof ev.data === "string" ? decodeFrame(ev.data, "json") : decodeFrame(new Uint8Array(ev.data as ArrayBuffer), "msgpack");
      if (frame) transport.onFrame(frame);
    };
    // A browser says nothing about why a socket failed; the close that follows carries the news.
    ws.onerror = () => {};
    ws.onclose = () => {
      clearTimeout(timer);
      if (open) transport.onClose(new Error(`WebSocket to ${url.href} closed`));
      else reject(new Error(`WebSocket to ${url.href} closed`));
    };
    ws.onopen = () => {
      clearTimeout(timer);
      open = true;
      resolve(transport);
    };
  });
};
