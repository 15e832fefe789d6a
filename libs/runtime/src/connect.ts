import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";

export interface ConnectOptions {
  servers: string | string[];
  name: string;
  log: Logger;
}

/** A NATS connection that reconnects forever and logs every status change. */
export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  const servers = Array.isArray(opts.servers) ? opts.servers : opts.servers.split(",").map((s) => s.trim());
  const nc = await connect({
    servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    waitOnFirstConnect: true,
    // nats.js otherwise builds an Error (with a stack trace) for every request
    // up front, in case it times out: a fifth of the gateway's CPU per request.
    noAsyncTraces: true,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "ping") continue;
      opts.log.info({ nats: s.type, data: "server" in s ? s.server : undefined }, `nats ${s.type}`);
    }
  })();
  return nc;
}
