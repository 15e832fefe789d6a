/** The TCP and TLS transport: newline-delimited JSON frames. */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { decodeFrame, encodeJson, LineSplitter, type OutgoingFrame } from "./codec.ts";
import type { Transport, TransportOptions } from "./transport.ts";

export function connectTcp(url: URL, opts: TransportOptions): Promise<Transport> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port);
  if (!port) return Promise.reject(new Error(`${url.href}: a port is required`));
  return new Promise((resolve, reject) => {
    const secure = url.protocol === "tls:";
    const socket: Socket = secure
      ? tlsConnect({ host, port, servername: opts.tls?.servername ?? (/^[\d.:]+$/.test(host) ? undefined : host), ...nodeTls(opts.tls) })
      : netConnect({ host, port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new Error(`connect to ${url.href} timed out`)), opts.connectTimeoutMs);
    let open = false;
    const transport: Transport = {
      send(frame: OutgoingFrame) {
        socket.write(encodeJson(frame) + "\n");
      },
      close() {
        socket.end();
        socket.destroy();
      },
      onFrame: () => {},
      onClose: () => {},
    };
    const lines = new LineSplitter();
    socket.on("data", (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        const frame = decodeFrame(line, "json");
        if (frame) transport.onFrame(frame);
      }
    });
    let closeErr: Error | undefined;
    socket.on("error", (err) => {
      closeErr = err;
      if (!open) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (open) transport.onClose(closeErr);
      else reject(closeErr ?? new Error(`connection to ${url.href} closed`));
    });
    socket.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      open = true;
      resolve(transport);
    });
  });
}

/** The TLS options as Node takes them (a CA given as bytes becomes a Buffer). */
export function nodeTls(tls: TransportOptions["tls"]): { ca?: string | Buffer; rejectUnauthorized?: boolean; servername?: string } | undefined {
  if (!tls) return undefined;
  const { ca, ...rest } = tls;
  return ca === undefined ? rest : { ...rest, ca: typeof ca === "string" ? ca : Buffer.from(ca) };
}
