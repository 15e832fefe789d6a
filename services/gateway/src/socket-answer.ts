/**
 * One HTTP answer written straight to a socket that Node's HTTP server no
 * longer answers for: a refused WebSocket upgrade (ws.ts) or a request its
 * parser refused (http.ts). The connection closes after it; a peer that
 * keeps its side open is cut a second later.
 */
import type { Duplex } from "node:stream";

export function endWithAnswer(socket: Duplex, status: number, reason: string, headers: Record<string, string>, body: string): void {
  const head = Object.entries({ Connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.end(`HTTP/1.1 ${status} ${reason}\r\n${head}\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}
