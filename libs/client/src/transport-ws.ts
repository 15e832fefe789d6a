/** The WebSocket transport: a text message per JSON frame, or a binary message per MessagePack frame. */
import WebSocket from "ws";
import { decodeFrame, encodeJson, encodeMsgpack, type Codec, type OutgoingFrame } from "./codec.ts";
import type { Transport, TransportOptions } from "./transport.ts";
import { nodeTls } from "./transport-tcp.ts";

export function connectWs(url: URL, codec: Codec, opts: TransportOptions): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: opts.connectTimeoutMs, ...(nodeTls(opts.tls) ?? {}) });
    ws.binaryType = "nodebuffer";
    let open = false;
    const transport: Transport = {
      send(frame: OutgoingFrame) {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (codec === "msgpack") ws.send(encodeMsgpack(frame), { binary: true });
        else ws.send(encodeJson(frame));
      },
      close() {
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000);
      },
      onFrame: () => {},
      onClose: () => {},
    };
    ws.on("message", (payload: Buffer, isBinary: boolean) => {
      const frame = isBinary ? decodeFrame(new Uint8Array(payload), "msgpack") : decodeFrame(payload.toString("utf8"), "json");
      if (frame) transport.onFrame(frame);
    });
    let closeErr: Error | undefined;
    ws.on("error", (err) => {
      closeErr = err;
      if (!open) reject(err);
    });
    ws.on("close", () => {
      if (open) transport.onClose(closeErr);
      else reject(closeErr ?? new Error(`WebSocket to ${url.href} closed`));
    });
    ws.once("open", () => {
      open = true;
      resolve(transport);
    });
  });
}
