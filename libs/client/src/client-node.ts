/** The client as Node runs it: TCP, TLS and WebSocket (the `ws` package). */
import { ColmenaClient as PlatformClient } from "./client.ts";
import type { Dialer } from "./transport.ts";
import { connectTcp } from "./transport-tcp.ts";
import { connectWs } from "./transport-ws.ts";

const dialNode: Dialer = (url, codec, opts) => {
  const p = url.protocol;
  if (p === "tcp:" || p === "tls:") return connectTcp(url, opts);
  if (p === "ws:" || p === "wss:") return connectWs(url, codec, opts);
  return Promise.reject(new Error(`unsupported URL scheme ${p} (use tcp://, tls://, ws:// or wss://)`));
};

export class ColmenaClient extends PlatformClient {
  protected static override dialer = dialNode;
}
