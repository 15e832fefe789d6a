/**
 * A TCP proxy in front of a nats-server, for tests of the one failure a
 * healthy server never shows: a write that landed and whose answer was lost
 * (the connection dropped between the two). Bytes pass through untouched
 * until `loseAnswerTo` is armed; then the next publish on a matching subject
 * reaches the server, nothing the server sends back on that connection
 * reaches the client, and the connection is cut. The client reconnects
 * through the proxy as to a restarted server.
 */
import { createServer, connect as tcpConnect, type Socket } from "node:net";

export interface NatsProxy extends AsyncDisposable {
  /** The URL clients connect to instead of the server's. */
  readonly url: string;
  /**
   * Arms the proxy: the next publish on a subject starting with `prefix` is
   * delivered, its answer (and anything else due on that connection) is
   * dropped, and the connection is cut `cutAfterMs` later, so the server has
   * handled the publish first. Resolves once the connection is cut.
   */
  loseAnswerTo(prefix: string, cutAfterMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a proxy on a random loopback port towards `target` (a `nats://host:port` URL). */
export async function startNatsProxy(target: string): Promise<NatsProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let trap: { needle: string; cutAfterMs: number; done: () => void } | null = null;

  const server = createServer((client) => {
    const upstream = tcpConnect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let deaf = false; // the armed publish went through: the client hears nothing more
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("data", (chunk: Buffer) => {
      if (deaf) return;
      upstream.write(chunk);
      // `PUB <subject>` or `HPUB <subject>`; a test's publish fits in one chunk.
      if (trap && chunk.toString("latin1").includes(trap.needle)) {
        const { cutAfterMs, done } = trap;
        trap = null;
        deaf = true;
        setTimeout(() => { end(); done(); }, cutAfterMs);
      }
    });
    upstream.on("data", (chunk: Buffer) => { if (!deaf) client.write(chunk); });
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const url = `nats://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;

  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url,
    loseAnswerTo: (prefix, cutAfterMs = 300) => new Promise<void>((done) => { trap = { needle: `PUB ${prefix}`, cutAfterMs, done }; }),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
